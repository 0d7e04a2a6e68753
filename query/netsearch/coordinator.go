package netsearch

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/metrics"
)

// Transport is what a Coordinator needs of the network: who owns a key,
// who the peers are, and one request to one peer at a time. The node itself
// is a peer like the others (Search, Counts and Summary answer it
// locally). p2p's Service is one.
type Transport interface {
	// Self is this node's peer ID.
	Self() peer.ID
	// Owners are the R owners of key, closest first.
	Owners(ctx context.Context, key string) ([]peer.ID, error)
	// Members are the other servers of the network this node knows (its
	// routing table).
	Members() []peer.ID
	// Known reports whether p is a peer of the network as far as this node
	// knows.
	Known(p peer.ID) bool
	// Settling reports whether owners may still be missing posts after the
	// membership changed.
	Settling() bool
	// Replicas is R.
	Replicas() int
	// Latency is the measured round trip to p, 0 when unknown.
	Latency(p peer.ID) time.Duration
	// Search asks p to search its shard.
	Search(ctx context.Context, p peer.ID, req *Request) (*Response, error)
	// Counts asks p how many posts it holds under each key.
	Counts(ctx context.Context, p peer.ID, keys []string) ([]int, error)
	// Summary asks p for its figures of the collection statistics.
	Summary(ctx context.Context, p peer.ID) (*Summary, error)
}

// Config configures a Coordinator. Zero values are the documented defaults.
type Config struct {
	// Metrics receives the query metrics; nil means none.
	Metrics *metrics.Node
	// Logger defaults to one that discards.
	Logger *slog.Logger
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Coordinator runs network searches over a Transport and keeps what they
// learn of the network: key counts and collection totals. Safe for
// concurrent use; Close stops its background refreshes.
type Coordinator struct {
	tr  Transport
	cfg Config
	log *slog.Logger

	countsMu sync.Mutex
	counts   map[string]countEntry // key counts (document frequencies) learned from owners

	totals totalsCache

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a coordinator over tr.
func New(tr Transport, cfg Config) *Coordinator {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Coordinator{tr: tr, cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel}
}

// Close stops the background refreshes and waits for them.
func (c *Coordinator) Close() {
	c.cancel()
	c.wg.Wait()
}

// countRefused feeds murmur_refused_total for what the coordinator refuses
// of what peers sent.
func (c *Coordinator) countRefused(protocol, reason string, n int) {
	if m := c.cfg.Metrics; m != nil && m.Refused != nil && n > 0 {
		m.Refused.WithLabelValues(protocol, reason).Add(float64(n))
	}
}

func (c *Coordinator) observePhase(phase string, since time.Time) {
	if m := c.cfg.Metrics; m != nil && m.QueryPhaseSeconds != nil {
		m.QueryPhaseSeconds.WithLabelValues(phase).Observe(time.Since(since).Seconds())
	}
}

func (c *Coordinator) observeQuery(asked, failed int, partial bool) {
	m := c.cfg.Metrics
	if m == nil {
		return
	}
	if m.QueryPeersAsked != nil {
		m.QueryPeersAsked.Observe(float64(asked))
		m.QueryPeersFailed.Observe(float64(failed))
	}
	if partial && m.QueryPartial != nil {
		m.QueryPartial.Inc()
	}
}
