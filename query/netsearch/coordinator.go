package netsearch

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/keyspace"
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
	// SettlingKey reports whether key's owners may still be missing posts
	// after the membership changed: the querier then asks every owner of
	// it.
	SettlingKey(ctx context.Context, key string) bool
	// PriorOwners are those of key's owners now that were already its
	// owners before the recent membership changes: an answer for key
	// that none of them gave may lack posts repair has not handed over
	// yet, and the search says partial. ok is false when no change is
	// recent or the transport cannot tell: every owner counts.
	PriorOwners(ctx context.Context, key string) (prior []peer.ID, ok bool)
	// Replicas is R.
	Replicas() int
	// Latency is how soon p could answer: the measured round trip, plus
	// any wait the transport knows of (its pacing of requests to p); 0
	// when unknown.
	Latency(p peer.ID) time.Duration
	// Search asks p to search its shard.
	Search(ctx context.Context, p peer.ID, req *Request) (*Response, error)
	// Counts asks p how many posts it holds under each key, and how each
	// split key is split.
	Counts(ctx context.Context, p peer.ID, keys []string) ([]KeyCount, error)
	// Summary asks p for its figures of the collection statistics.
	Summary(ctx context.Context, p peer.ID) (*Summary, error)
	// CountRefused counts n things peers sent that the coordinator
	// refused, under protocol and reason (murmur_refused_total, which the
	// transport keeps).
	CountRefused(protocol, reason string, n int)
}

// KeyCount is an owner's answer for one key of a count request: the posts
// it holds under the key and, for the root of a split term, the split's
// record (nil when the key is not split).
type KeyCount struct {
	Count int
	Split *keyspace.Split
}

// Config configures a Coordinator. Zero values are the documented defaults.
type Config struct {
	// Metrics receives the coordinator's collectors (the node's registry);
	// nil keeps them to the coordinator.
	Metrics prometheus.Registerer
	// Logger defaults to one that discards.
	Logger *slog.Logger
	// Now is the clock (time.Now).
	Now func() time.Time
	// CountTTL is how long a key's count and split record are reused
	// (default CountTTL).
	CountTTL time.Duration
	// TrustOwners takes one owner's answer per key and its scores as they
	// come, as murmur did before it checked them: no second owner on a
	// first page sorted by score, no recomputed scores. For measuring what
	// the checks cost, and for tests that show what a lying owner does
	// without them.
	TrustOwners bool
	// SpanDeviations is how many standard deviations above its binomial
	// share of a page a span of a split key's shards is asked for
	// (DefaultSpanDeviations); fewer cost fewer bytes and more second
	// rounds.
	SpanDeviations float64
	// NoDigestsFirst asks the units of a plan of several (a split key's
	// shards, an OR's keys) for their hits at once, as murmur did before it
	// asked them for digests first (digestfirst.go): one round trip fewer,
	// two to three times the bytes of a 16-shard key's first page. For
	// measuring what digests first saves.
	NoDigestsFirst bool
	// HedgeAfter is how long a search waits for an owner before it asks
	// one more (default HedgeDelay). Tests that count an answer's bytes
	// set it long, so that a slow machine hedges no request.
	HedgeAfter time.Duration
	// EveryBucketAtOnce asks every leaf of a split term for a whole page
	// at once, as murmur did before it asked them newest first in a query
	// sorted by date (latest.go) and for their share of the page in one
	// sorted by score (trieShares). For measuring what those save.
	EveryBucketAtOnce bool
	// DigestsFirstPages is how many pages (of the page size asked, plus
	// one) the remote units of a plan would send whole before they are
	// asked for digests first (DefaultDigestsFirstPages).
	DigestsFirstPages float64
	// DigestsFirstMaxRTT is the longest round trip a plan asks digests
	// first over (DefaultDigestsFirstMaxRTT): the fetch round they need
	// adds the slowest remote key's fastest owner's round trip.
	DigestsFirstMaxRTT time.Duration
	// SelfCheckShare is the share of searches that still ask another
	// owner to check this node's answer for the keys this node owns and
	// holds settled (DefaultSelfCheckShare); in the others this node
	// answers those keys alone, a split key's shards in one request. 1
	// checks every search, as murmur did before; a negative share none.
	SelfCheckShare float64
}

// DefaultSelfCheckShare is Config.SelfCheckShare's default. A first page
// sorted by score asks two owners of a key so that no one owner can hide
// a post; when this node is one of them it hides nothing from itself, and
// the second owner can only add posts this node lacks, which repair hands
// it anyway (later pages and sort=latest trust one owner already). One
// search in 16 still asks, and a key on which this node is found short is
// checked in every search for SuspectFor. Under 8 clients at N=4 this cut
// the CPU of a search by a quarter (docs/benchmarks.md, "A querier that
// owns a key answers it alone").
const DefaultSelfCheckShare = 1.0 / 16

// DefaultDigestsFirstMaxRTT is Config.DigestsFirstMaxRTT's default: a
// second round pays when it costs less than checking and rescoring the
// posts it saves (docs/benchmarks.md, "Digests first"). On this machine's
// 0.2 ms links, a hot term's p50 fell with digests first (7.9x one index
// against 11.4x at N=8); over simulated links of 1 to 10 ms it rose from
// 10 to 19 ms, and over 20 to 150 ms from 131 to 237 ms, to save 18 KB.
// p2p reports the round trips its DHT requests measured; a peer not yet
// measured counts as fast.
const DefaultDigestsFirstMaxRTT = 2 * time.Millisecond

// DefaultDigestsFirstPages is Config.DigestsFirstPages' default. Measured
// on first pages of 10 (docs/benchmarks.md, "Digests first"), from 1 page
// a hot term stays under 8 KB at N=4 and 8 (5.7 and 7.3 KB) and takes a
// second round in a quarter of its searches at N=4; from 1.5 pages it
// takes fewer second rounds but 8.3 KB at N=8.
const DefaultDigestsFirstPages = 1

// DefaultSpanDeviations is Config.SpanDeviations' default. Measured on a
// hot term's first page of 10 (docs/benchmarks.md, "Span sizing"), 2
// instead of 3 cuts its bytes by 12-13% at N=8 to 32 with no second round
// seen in 90 searches; 1 cuts them by 24-28% but 7-13% take a second.
const DefaultSpanDeviations = 2

// Coordinator runs network searches over a Transport and keeps what they
// learn of the network: key counts and collection totals. Safe for
// concurrent use; Close stops its background refreshes.
type Coordinator struct {
	tr  Transport
	cfg Config
	log *slog.Logger

	countsMu sync.Mutex
	counts   map[string]countEntry // key counts (document frequencies) learned from owners
	// splits are the split records of roots learned from their owners'
	// counts (splits.go), under countsMu.
	splits map[string]keyspace.Split

	totals  totalsCache
	metrics *coordinatorMetrics

	suspectsMu sync.Mutex
	suspects   map[suspect]time.Time // owners found short of a key, until when

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	askers *askers
}

// New returns a coordinator over tr.
func New(tr Transport, cfg Config) *Coordinator {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HedgeAfter <= 0 {
		cfg.HedgeAfter = HedgeDelay
	}
	if cfg.CountTTL <= 0 {
		cfg.CountTTL = CountTTL
	}
	if cfg.SpanDeviations <= 0 {
		cfg.SpanDeviations = DefaultSpanDeviations
	}
	if cfg.DigestsFirstPages <= 0 {
		cfg.DigestsFirstPages = DefaultDigestsFirstPages
	}
	if cfg.DigestsFirstMaxRTT <= 0 {
		cfg.DigestsFirstMaxRTT = DefaultDigestsFirstMaxRTT
	}
	switch {
	case cfg.SelfCheckShare == 0:
		cfg.SelfCheckShare = DefaultSelfCheckShare
	case cfg.SelfCheckShare < 0:
		cfg.SelfCheckShare = 0
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Coordinator{tr: tr, cfg: cfg, log: cfg.Logger, metrics: newCoordinatorMetrics(metrics.Or(cfg.Metrics)), ctx: ctx, cancel: cancel, askers: newAskers(ctx)}
}

// coordinatorMetrics are a coordinator's collectors.
type coordinatorMetrics struct {
	phaseSeconds            *prometheus.HistogramVec
	peersAsked, peersFailed prometheus.Histogram
	partial                 prometheus.Counter
	rescored, disagreements prometheus.Counter
}

func newCoordinatorMetrics(reg prometheus.Registerer) *coordinatorMetrics {
	// Peers per query: 1 to 256, the bound of a best-effort fan-out.
	peerBuckets := []float64{0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256}
	m := &coordinatorMetrics{
		phaseSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metrics.QueryPhaseSeconds,
			Help:    "Time a network search spends in each phase.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}, []string{"phase"}),
		peersAsked: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: metrics.QueryPeersAsked, Help: "Peers asked by one network search.", Buckets: peerBuckets,
		}),
		peersFailed: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: metrics.QueryPeersFailed, Help: "Shards (keys) of one network search that no owner answered, or peers that failed a best-effort one.", Buckets: peerBuckets,
		}),
		partial: metrics.Counter(reg, metrics.QueryPartial, "Network searches answered partially."),
		rescored: metrics.Counter(reg, metrics.QueryRescored,
			"Hits whose score the owner sent differs from the one this node computed from the post and the network's statistics."),
		disagreements: metrics.Counter(reg, metrics.OwnerDisagreements,
			"Owners of a key that counted fewer matches of a query than another owner of the same key (asked last for a while)."),
	}
	for _, p := range []string{metrics.PhasePlan, metrics.PhaseFanout, metrics.PhaseMerge} {
		m.phaseSeconds.WithLabelValues(p)
	}
	reg.MustRegister(m.phaseSeconds, m.peersAsked, m.peersFailed)
	return m
}

// Close stops the background refreshes and waits for them; the kept
// askers end once their current ask has.
func (c *Coordinator) Close() {
	c.cancel()
	c.wg.Wait()
}

func (c *Coordinator) countRefused(protocol, reason string, n int) {
	if n > 0 {
		c.tr.CountRefused(protocol, reason, n)
	}
}

func (c *Coordinator) observePhase(phase string, since time.Time) {
	c.metrics.phaseSeconds.WithLabelValues(phase).Observe(time.Since(since).Seconds())
}

func (c *Coordinator) observeQuery(asked, failed int, partial bool) {
	c.metrics.peersAsked.Observe(float64(asked))
	c.metrics.peersFailed.Observe(float64(failed))
	if partial {
		c.metrics.partial.Inc()
	}
}
