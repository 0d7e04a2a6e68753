// Package node assembles one murmur node from its parts: the identity key, the
// local index, the metrics and the HTTP API. Its methods are what the API
// serves: publish, import, get, delete, search and status. cmd/murmur only
// parses flags and calls Run.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/api/server"
	"github.com/murmur-p2p/murmur/crawl"
	"github.com/murmur-p2p/murmur/follows"
	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/gate"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query/netsearch"
	"github.com/murmur-p2p/murmur/web"
)

// DefaultAPIAddr is where the API and web page listen unless told otherwise:
// loopback only, so a node is not open to its network by accident.
const DefaultAPIAddr = "127.0.0.1:7070"

// Config configures a node. Zero values are the documented defaults.
type Config struct {
	// DataDir holds the key and the index; required.
	DataDir string
	// APIAddr is the HOST:PORT of the HTTP API; default DefaultAPIAddr.
	// Port 0 picks a free port (see Node.APIAddr).
	APIAddr string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now. Tests may pin it.
	Now func() time.Time
	// Version is the build's version, shown by status.
	Version string
	// Network is how the node takes part in the network.
	Network NetworkConfig
	// Crawl runs the crawler: the node fetches the sources on its crawl list
	// (DATA/crawl) on schedule and stores their items as its posts.
	Crawl bool
	// CrawlAllowPrivate lets the crawler fetch loopback and private addresses.
	CrawlAllowPrivate bool
	// MinFreeBytes is the free disk space under which the node takes no new
	// posts, its own or peers' (index.DefaultMinFreeBytes; negative: no
	// watermark).
	MinFreeBytes int64
	// APIAuth is which requests from other machines need the API token
	// (DATA/api.token); default api.AuthWrites.
	APIAuth api.AuthMode
	// APIHosts are names (NAME or NAME:PORT) the API answers to besides
	// localhost, IP addresses and the name in APIAddr.
	APIHosts []string
	// APITimeouts bound the API's connections; zero fields are api's defaults.
	APITimeouts server.Timeouts
}

// Node is one running murmur node.
type Node struct {
	cfg   Config
	log   *slog.Logger
	key   crypto.PrivKey
	id    peer.ID
	index *index.Index
	// registry holds every collector of the node, its parts' included;
	// metrics and apiMetrics are the node's own and its API's.
	registry   *prometheus.Registry
	metrics    *nodeMetrics
	apiMetrics *server.Metrics
	started    time.Time

	listener net.Listener
	server   *http.Server
	ready    atomic.Bool

	holdings *p2p.Holdings
	// recovery is set when the index was found damaged at start.
	recovery *api.IndexRecovery

	// admission bounds the searches run at once for the API and web page.
	admission *gate.Gate
	// streams bounds the live searches followed at once for the API.
	streams *gate.Gate
	// follows are the authors and searches the operator follows.
	follows *follows.Store
	// profiles caches the authors' profiles fetched from the network.
	profiles profileCache
	// searches runs network searches over net.
	searches *netsearch.Coordinator
	net      *p2p.Service
	// contact finds the network: the bootstrap peers, the peers remembered
	// in the data directory, and the watch for a node left alone.
	contact *contact
	// stopProcessMetrics, if set, shuts down the process-wide libp2p and
	// kad-dht instruments this node owns.
	stopProcessMetrics func(context.Context) error
	crawler            *crawl.Crawler // nil unless Config.Crawl
}

// DefaultConfig is a node's configuration with every default set: the data
// directory and API address, and the network's and the index's defaults
// (p2p.DefaultConfig, index.DefaultConfig). The CLI's flags default to it.
func DefaultConfig() Config {
	nd, ix := p2p.DefaultConfig(), index.DefaultConfig()
	return Config{
		DataDir:      DefaultDataDir(),
		APIAddr:      DefaultAPIAddr,
		APIAuth:      api.AuthWrites,
		MinFreeBytes: ix.MinFreeBytes,
		Network: NetworkConfig{
			Name: nd.Network, Listen: nd.Listen, MDNS: true,
			Replicas: nd.Replicas, WriteQuorum: nd.WriteQuorum,
			AuthorRate: nd.AuthorRate, AuthorBurst: nd.AuthorBurst,
			IDDifficulty: nd.IDDifficulty, PostDifficulty: nd.PostDifficulty,
			DHTMode: nd.DHTMode, NATTraversal: nd.NATTraversal, ModeSwitchDelay: nd.ModeSwitchDelay,
		},
	}
}

// New opens (or creates) the node's data directory, key and index, and binds
// the API address. It serves nothing until Run.
func New(cfg Config) (*Node, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("node: a data directory is required")
	}
	if cfg.APIAddr == "" {
		cfg.APIAddr = DefaultAPIAddr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", cfg.DataDir, err)
	}
	key, err := EnsureKey(context.Background(), cfg.DataDir, cfg.Network.IDDifficulty, cfg.Logger)
	if err != nil {
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("derive peer ID: %w", err)
	}
	token, err := api.LoadOrCreateToken(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	followed, err := follows.Open(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	reg := metrics.New()
	n := &Node{cfg: cfg, log: cfg.Logger.With("peer", id.String()), key: key, id: id, registry: reg, metrics: newNodeMetrics(reg),
		apiMetrics: server.NewMetrics(reg), started: cfg.Now(), admission: gate.New(MaxSearches, MaxSearchesPerCaller),
		streams: gate.New(MaxStreams, MaxStreamsPerCaller), follows: followed}
	if err := n.openIndex(context.Background()); err != nil {
		return nil, err
	}
	metrics.GaugeFunc(reg, metrics.IndexDocuments, "Posts in the local index.", func() float64 {
		c, _ := n.index.DocCount()
		return float64(c)
	})
	metrics.GaugeFunc(reg, metrics.IndexDiskBytes, "Bytes of the local index on disk.", func() float64 {
		return float64(n.index.DiskBytes())
	})
	n.listener, err = net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		n.index.Close()
		return nil, fmt.Errorf("listen for the API on %s: %w (is another node running? pick another with --api)", cfg.APIAddr, err)
	}
	// The API owns every path it does not hand out; the other parts of the
	// node (web page, crawler) add their more specific routes to this mux.
	mux := http.NewServeMux()
	mux.Handle("/", server.NewHandler(n, n.apiMetrics, n.log))
	page := web.New(n, web.Options{Metrics: n.registry, Logger: n.log, Now: cfg.Now})
	for _, pattern := range web.Patterns {
		mux.Handle(pattern, page)
	}
	if err := n.openCrawl(mux); err != nil {
		n.listener.Close()
		n.index.Close()
		return nil, err
	}
	guarded, err := server.Guard(mux, server.GuardConfig{Token: token, Auth: cfg.APIAuth, Hosts: apiHosts(cfg), Metrics: n.apiMetrics, Logger: n.log})
	if err != nil {
		n.listener.Close()
		n.index.Close()
		return nil, err
	}
	n.server = server.NewServer(guarded, cfg.APITimeouts, n.log)
	if err := n.startNetwork(); err != nil {
		n.listener.Close()
		n.index.Close()
		return nil, fmt.Errorf("join the network: %w", err)
	}
	n.searches = netsearch.New(n.net, netsearch.Config{Metrics: n.registry, Logger: n.log, Now: cfg.Now})
	n.ready.Store(true)
	return n, nil
}

// apiHosts are the names the API answers to: the configured ones and the
// name the API listens on, if it is one.
func apiHosts(cfg Config) []string {
	hosts := append([]string(nil), cfg.APIHosts...)
	if h, _, err := net.SplitHostPort(cfg.APIAddr); err == nil && h != "" && net.ParseIP(h) == nil {
		hosts = append(hosts, h)
	}
	return hosts
}

// Ready reports whether the node serves requests: its index is open and, if
// it was given bootstrap peers, it has joined the network through one. The
// peers it remembers and the default list do not hold it back: they may
// all be gone.
func (n *Node) Ready() bool {
	return n.ready.Load() && (n.net.Joined() || !n.contact.mustJoin())
}

// ID is the node's peer ID, which is also the author of its posts.
func (n *Node) ID() peer.ID { return n.id }

// APIAddr is the address the API listens on, with the real port.
func (n *Node) APIAddr() string { return n.listener.Addr().String() }

// Metrics is the node's registry, which /metrics serves.
func (n *Node) Metrics() *prometheus.Registry { return n.registry }

// Run serves the API until ctx is done, then shuts down: it stops accepting
// requests, lets running ones finish (up to 10 s), and closes the index,
// which flushes every batch.
func (n *Node) Run(ctx context.Context) error {
	n.log.Info("murmur node started", "api", "http://"+n.APIAddr()+"/", "data", n.cfg.DataDir)
	errc := make(chan error, 1)
	go func() { errc <- n.server.Serve(n.listener) }()
	stopCrawl := n.runCrawl(ctx)
	pctx, stopProfile := context.WithCancel(ctx)
	profileDone := make(chan struct{})
	go func() {
		defer close(profileDone)
		n.republishProfile(pctx)
	}()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	stopCrawl() // before the index closes: no crawled post arrives after
	stopProfile()
	<-profileDone
	n.ready.Store(false)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := n.server.Shutdown(shutdownCtx); err != nil {
		n.log.Warn("API shutdown", "err", err)
	}
	if serveErr == nil {
		<-errc
	}
	n.searches.Close()
	n.contact.stop() // while connected: the peers met are written
	if err := n.net.Close(); err != nil {
		n.log.Warn("network shutdown", "err", err)
	}
	if n.stopProcessMetrics != nil {
		if err := n.stopProcessMetrics(shutdownCtx); err != nil {
			n.log.Warn("metrics shutdown", "err", err)
		}
	}
	if err := n.index.Close(); err != nil {
		return fmt.Errorf("close index: %w", err)
	}
	n.log.Info("murmur node stopped")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve API: %w", serveErr)
	}
	return nil
}

// sign signs a draft with the node's key and the network's proof of work:
// an owner that holds no post of this node's author would refuse it
// without, and the node cannot tell which owners have seen it.
func (n *Node) sign(ctx context.Context, d post.Draft, now time.Time) (*post.Post, error) {
	return post.SignWork(ctx, n.key, d, now, n.cfg.Network.PostDifficulty)
}

// Publish signs a draft with the node's key and stores it. It returns once the
// post is persisted. A post stored here but short of its write quorum comes
// back with a *p2p.ShortError; repair keeps placing it.
func (n *Node) Publish(ctx context.Context, d post.Draft) (*post.Post, error) {
	p, err := n.sign(ctx, d, n.cfg.Now())
	if err != nil {
		n.metrics.postsRejected.WithLabelValues(reason(err)).Inc()
		return nil, err
	}
	res, err := n.accept(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("store post: %w", err)
	}
	var short *p2p.ShortError
	if errors.As(res[0], &short) {
		n.metrics.postsAccepted.WithLabelValues("api").Inc()
		return p, short
	}
	if res[0] != nil {
		n.metrics.postsRejected.WithLabelValues(reason(res[0])).Inc()
		return nil, res[0]
	}
	n.metrics.postsAccepted.WithLabelValues("api").Inc()
	return p, nil
}

// Accept stores posts that others signed, as a relay of them would: each
// is verified, then stored and placed as Publish stores its own. It
// returns one error per post (nil when stored; a *p2p.ShortError when
// stored short of its write quorum), or an error for the whole call. The
// simulated network (package internal/simnet) writes its corpus through
// it.
func (n *Node) Accept(ctx context.Context, posts ...*post.Post) ([]error, error) {
	now := n.cfg.Now()
	ok := make([]*post.Post, 0, len(posts))
	at := make([]int, 0, len(posts))
	errs := make([]error, len(posts))
	for i, p := range posts {
		if err := p.Verify(now); err != nil {
			errs[i] = fmt.Errorf("post %.16s: %w", p.ID, err)
			continue
		}
		ok, at = append(ok, p), append(at, i)
	}
	if len(ok) == 0 {
		return errs, nil
	}
	stored, err := n.accept(ctx, ok...)
	if err != nil {
		return nil, err
	}
	for j, e := range stored {
		errs[at[j]] = e
	}
	return errs, nil
}

// accept stores signed, verified posts where they belong and returns once
// each is persisted: one error per post (nil when stored), or an error for
// the whole call. Publish, Import and the crawler all come through here, so a
// post enters the network by one path.
func (n *Node) accept(ctx context.Context, posts ...*post.Post) ([]error, error) {
	errs, err := n.index.Put(ctx, posts...)
	if err != nil {
		return nil, err
	}
	var stored []*post.Post
	for i, e := range errs {
		if e == nil {
			stored = append(stored, posts[i])
		}
	}
	n.net.Offer(stored...)
	n.place(ctx, posts, errs)
	return errs, nil
}

// Get returns a stored post. A deleted post gives an *index.DeletedError carrying its
// tombstone; an unknown one index.ErrNotFound.
func (n *Node) Get(ctx context.Context, id string) (*post.Post, error) {
	if !post.ValidID(id) {
		return nil, fmt.Errorf("%w: %q is not a post ID (64 hex digits)", post.ErrBadField, id)
	}
	p, err := n.index.Get(ctx, id)
	switch {
	case errors.Is(err, index.ErrDeleted):
		t, terr := n.index.Tombstone(id)
		if terr != nil {
			return nil, fmt.Errorf("post %s: %w", id, terr)
		}
		return nil, &index.DeletedError{Tombstone: t}
	case errors.Is(err, index.ErrNotFound):
		return nil, fmt.Errorf("post %s: %w", id, index.ErrNotFound)
	}
	return p, err
}

// Delete removes one of the node's own posts by storing a signed tombstone.
func (n *Node) Delete(ctx context.Context, id string) (*post.Tombstone, error) {
	p, err := n.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.Author != n.id.String() {
		return nil, post.ErrNotAuthor
	}
	t, err := post.SignTombstone(n.key, id, n.cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("sign tombstone: %w", err)
	}
	if err := n.index.Delete(ctx, t); err != nil {
		return nil, fmt.Errorf("delete post %s: %w", id, err)
	}
	// The tombstone is kept here; owners that miss it now get it from repair.
	if err := n.net.Delete(ctx, p, t); err != nil {
		n.log.Warn("tombstone not yet at every owner", "id", id, "err", err)
	}
	return t, nil
}

// Status reports the node's identity and holdings. The network fields stay
// empty until the node joins a network.
func (n *Node) Status(context.Context) (api.Status, error) {
	count, err := n.index.DocCount()
	if err != nil {
		return api.Status{}, fmt.Errorf("count posts: %w", err)
	}
	s := api.Status{
		PeerID:     n.id.String(),
		Posts:      count,
		IndexBytes: n.index.DiskBytes(),
		DataDir:    n.cfg.DataDir,
		API:        "http://" + n.APIAddr() + "/",
		UptimeS:    int64(n.cfg.Now().Sub(n.started).Seconds()),
		Analyzer:   index.AnalyzerVersion,
		Version:    n.cfg.Version,
		Recovered:  n.recovery,
	}
	n.networkStatus(&s)
	return s, nil
}
