package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	cmgr "github.com/libp2p/go-libp2p/p2p/net/connmgr"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/live"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/puzzle"
)

// Store is the node's local index as the network uses it; *index.Index
// satisfies it.
type Store interface {
	Put(ctx context.Context, posts ...*post.Post) ([]error, error)
	Get(ctx context.Context, id string) (*post.Post, error)
	Delete(ctx context.Context, t *post.Tombstone) error
	Tombstone(id string) (*post.Tombstone, error)
	IDsWithTerm(ctx context.Context, field, term string) ([]string, error)
	// IDsWithTermBetween is IDsWithTerm for the posts created in
	// [start, end): a month of a split term's postings.
	IDsWithTermBetween(ctx context.Context, field, term string, start, end time.Time) ([]string, error)
	// PostsWithTerm calls fn with every stored post whose field holds term.
	PostsWithTerm(ctx context.Context, field, term string, fn func(*post.Post) error) error
	// Paused runs fn while no write commits, so that the holdings it
	// changes stay in step with the posts stored.
	Paused(fn func() error) error
	// HasTerm reports whether any stored post's field holds term.
	HasTerm(ctx context.Context, field, term string) (bool, error)
	Walk(ctx context.Context, fn func(*post.Post) error) error
	// Drop removes copies without a tombstone and returns how many it held.
	Drop(ctx context.Context, ids ...string) (int, error)
	// Holds reports, for each ID, whether the store holds that post.
	Holds(ctx context.Context, ids []string) ([]bool, error)
	// PutProfile keeps a verified profile unless a newer one of its
	// author is kept; Profile returns the one kept (index.ErrNotFound).
	PutProfile(p *post.Profile) (bool, error)
	Profile(author string) (*post.Profile, error)
}

// Config configures a Service. A zero field takes its value from
// DefaultConfig.
type Config struct {
	// Key is the node's identity; required.
	Key crypto.PrivKey
	// Network scopes every protocol ID and the mDNS service (DefaultNetwork).
	Network string
	// Listen are the multiaddrs to listen on (default TCP and QUIC on all
	// IPv4 interfaces, free ports).
	Listen []string
	// Bootstrap returns the peers to join through; it is called again while
	// none of them answers. Nil means a node that starts alone.
	Bootstrap func() []peer.AddrInfo
	// MDNS turns on discovery of peers of the same network on the LAN.
	MDNS bool
	// Replicas (R) and WriteQuorum (W); defaults DefaultReplicas and
	// DefaultWriteQuorum.
	Replicas, WriteQuorum int
	// Store is the local index; Holdings its per-key digests; both required.
	Store    Store
	Holdings *Holdings
	// Metrics receives the network's collectors (the node's registry); nil
	// keeps them to the service.
	Metrics prometheus.Registerer
	// LibP2PMetrics, if set, receives go-libp2p's own metrics. Its
	// collectors are process-wide: set it only when one node runs in the
	// process.
	LibP2PMetrics prometheus.Registerer
	// RepairInterval is how often repair looks for keys to sync even when no
	// peer came or went (default 1 minute); FullSyncInterval how often it
	// compares every key again (default 10 minutes).
	RepairInterval, FullSyncInterval time.Duration
	// SettleMargin is how long after its first repair pass since a change
	// of membership the node still counts as settling, and so asks every
	// owner of a key (default 3 minutes).
	SettleMargin time.Duration
	// KeySettleFor is how long a key whose owners a membership change
	// touched (a peer that joined owns it, or one that left owned it)
	// still counts as settling after that change, even once the node's own
	// settling window closed: the window follows this node's repair pass,
	// and a new owner waits for the other holders' passes, which can take
	// longer (default FullSyncInterval + SettleMargin: by then every holder
	// has compared the key with its owners again; negative: the window
	// alone).
	KeySettleFor time.Duration
	// EvictInterval is how often the node drops its copies of posts it owns
	// no key of, once their owners confirm they hold them (default 10
	// minutes; negative: never).
	EvictInterval time.Duration
	// SplitAt is how many posts an owner of a term's root holds under it
	// when it splits the term (default keyspace.SplitAt; negative: never).
	SplitAt int
	// SplitGrace is how long an owner keeps a split term's posts after it
	// handed them all down (default DefaultSplitGrace): planners that
	// still hold the record of the hand-down ask it for them.
	SplitGrace time.Duration
	// Searcher runs searches that peers ask of this node; nil means the node
	// answers none.
	Searcher Searcher
	// ConnLow and ConnHigh are the connection manager's watermarks: above
	// ConnHigh connections it trims the least useful down to ConnLow.
	ConnLow, ConnHigh int
	// Gater, if set, decides which peers and addresses the host may dial
	// and accept (tools that must stay on this machine use one).
	Gater connmgr.ConnectionGater
	// AuthorRate and AuthorBurst bound the new posts an author may write per
	// second at this node as an owner (DefaultAuthorRate,
	// DefaultAuthorBurst).
	AuthorRate  float64
	AuthorBurst int
	// NoLending makes the node serve no search or statistics request
	// beyond its peer's rate, idle or not (SpareSearchRate): for a node
	// that wants no spare work, and for tests of an owner with none.
	NoLending bool
	// BucketSize is how many peers the routing table keeps per common
	// prefix length, and a lookup returns (0: KadBucketSize, kad's 20).
	// Tests set fewer, so that a small network outgrows its routing tables
	// as a large one does.
	BucketSize int
	// IDDifficulty (D) is the network's price of an identity: a peer whose
	// ID does not solve the puzzle of difficulty D (package puzzle) is
	// refused at the connection, kept out of the routing table and never an
	// owner; the node's own key must solve it too. Zero, the zero value,
	// asks nothing (tests); DefaultConfig sets puzzle.DefaultDifficulty.
	IDDifficulty int
	// PostDifficulty is the network's proof of work on posts (post.Work):
	// a new post whose author this node holds no post of must carry at
	// least that many bits, so that flooding with fresh identities costs
	// CPU. Zero, the zero value, asks nothing; DefaultConfig sets
	// DefaultPostDifficulty.
	PostDifficulty int
	// DHTMode is DHTModeServer, DHTModeClient or DHTModeAuto. The zero
	// value is server (tests on loopback, where AutoNAT has nothing to
	// say); DefaultConfig sets auto.
	DHTMode string
	// ModeSwitchDelay is how long a reachability verdict must hold before
	// an auto node switches its DHT mode (default 2 minutes).
	ModeSwitchDelay time.Duration
	// NATTraversal turns on what a home node behind NAT needs and what a
	// reachable node offers it, as kubo configures them: UPnP/NAT-PMP port
	// mapping, AutoNAT (v1 service, v2 client and server), hole punching
	// (DCUtR), and circuit relay v2: auto-relay fed from Relays and the
	// routing table while unreachable, the relay service with libp2p's
	// limits while reachable. DefaultConfig sets it.
	NATTraversal bool
	// Host, if set, makes the node's libp2p host instead of a TCP and QUIC
	// one on Listen: the seam through which an in-process simulated
	// network (libp2p's mocknet, package internal/simnet) runs the same
	// placement, repair, eviction, splits, statistics and search as a real
	// one. It is given the node's key; Listen, ConnLow, ConnHigh, Gater,
	// NATTraversal and LibP2PMetrics do not apply to it, and NATTraversal
	// must be off. The service closes the host when it closes.
	Host func(key crypto.PrivKey) (host.Host, error)
	// Relays are relays to reserve a slot on first while the node is
	// unreachable (--relay).
	Relays []peer.AddrInfo
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Service is a node's presence in the network: its libp2p host, the DHT,
// the store and sync protocols, placement and repair.
type Service struct {
	cfg   Config
	log   *slog.Logger
	host  host.Host
	dht   *dht.IpfsDHT
	mdns  mdns.Service
	self  peer.ID
	store Store
	hold  *Holdings
	// splits are the split records of the roots this node owns.
	splits splitBook

	// The bounds of each protocol's inbound requests.
	storeIn, syncIn, searchIn, statsIn, liveIn, dialbackIn *inbound
	// live holds the standing searches other nodes keep here.
	live *live.Registry
	// postBudget bounds the posts each peer sends, syncWork the IDs each
	// peer's sync requests make this node look up, authorLimits the new
	// posts of each author.
	postBudget   *peerLimiter
	syncWork     *peerLimiter
	authorLimits *keyedLimiter[string]
	// offenders bans peers whose requests keep being refused.
	offenders *offenders
	// pace keeps this node's own requests within each peer's bounds.
	pace *pacer
	// probe measures the latency of peers the node has not measured.
	probe *prober
	// streams keeps idle streams of the protocols that carry many
	// requests, for the next request to the same peer.
	streams *streamPool
	summary summaryCache
	metrics *serviceMetrics

	owners  *ownerCache
	survey  *survey
	repair  *repairer
	writers *recentWriters
	reach   reach
	joined  atomic.Bool
	trigger chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// handling counts the inbound requests in flight, which Close waits
	// for; closing (under handlingMu) stops new ones from starting.
	handlingMu sync.RWMutex
	closing    bool
	handling   sync.WaitGroup
}

// DefaultConfig is a Config with every default set: what New uses for each
// field left at its zero value, and what the CLI's flags default to.
func DefaultConfig() Config {
	return Config{
		Network:          DefaultNetwork,
		Listen:           []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"},
		Replicas:         DefaultReplicas,
		WriteQuorum:      DefaultWriteQuorum,
		RepairInterval:   time.Minute,
		FullSyncInterval: 10 * time.Minute,
		SettleMargin:     settleMargin,
		EvictInterval:    10 * time.Minute,
		SplitAt:          keyspace.SplitAt,
		SplitGrace:       DefaultSplitGrace,
		AuthorRate:       DefaultAuthorRate,
		AuthorBurst:      DefaultAuthorBurst,
		ConnLow:          100,
		ConnHigh:         200,
		IDDifficulty:     puzzle.DefaultDifficulty,
		PostDifficulty:   DefaultPostDifficulty,
		DHTMode:          DHTModeAuto,
		ModeSwitchDelay:  defaultModeSwitchDelay,
		NATTraversal:     true,
	}
}

// withDefaults fills the zero fields of cfg from DefaultConfig.
func (cfg Config) withDefaults() Config {
	d := DefaultConfig()
	if cfg.Network == "" {
		cfg.Network = d.Network
	}
	if len(cfg.Listen) == 0 {
		cfg.Listen = d.Listen
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = d.Replicas
	}
	if cfg.WriteQuorum <= 0 {
		cfg.WriteQuorum = d.WriteQuorum
	}
	if cfg.RepairInterval <= 0 {
		cfg.RepairInterval = d.RepairInterval
	}
	if cfg.SettleMargin <= 0 {
		cfg.SettleMargin = d.SettleMargin
	}
	if cfg.FullSyncInterval <= 0 {
		cfg.FullSyncInterval = d.FullSyncInterval
	}
	if cfg.KeySettleFor == 0 {
		cfg.KeySettleFor = cfg.FullSyncInterval + cfg.SettleMargin
	}
	if cfg.EvictInterval == 0 {
		cfg.EvictInterval = d.EvictInterval
	}
	if cfg.SplitAt == 0 {
		cfg.SplitAt = d.SplitAt
	}
	if cfg.SplitGrace <= 0 {
		cfg.SplitGrace = d.SplitGrace
	}
	if cfg.AuthorRate <= 0 {
		cfg.AuthorRate = d.AuthorRate
	}
	if cfg.AuthorBurst <= 0 {
		cfg.AuthorBurst = d.AuthorBurst
	}
	if cfg.ConnLow <= 0 || cfg.ConnHigh < cfg.ConnLow {
		cfg.ConnLow, cfg.ConnHigh = d.ConnLow, d.ConnHigh
	}
	if cfg.DHTMode == "" {
		cfg.DHTMode = DHTModeServer
	}
	if cfg.ModeSwitchDelay <= 0 {
		cfg.ModeSwitchDelay = d.ModeSwitchDelay
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// New starts the host, joins the DHT and serves the protocols. Close stops it.
func New(cfg Config) (*Service, error) {
	if cfg.Key == nil || cfg.Store == nil || cfg.Holdings == nil {
		return nil, errors.New("p2p: Key, Store and Holdings are required")
	}
	cfg = cfg.withDefaults()
	if cfg.WriteQuorum > cfg.Replicas {
		return nil, fmt.Errorf("p2p: write quorum %d is larger than the %d replicas", cfg.WriteQuorum, cfg.Replicas)
	}
	if cfg.IDDifficulty < 0 || cfg.IDDifficulty > puzzle.MaxDifficulty {
		return nil, fmt.Errorf("p2p: identity difficulty %d is outside 0..%d", cfg.IDDifficulty, puzzle.MaxDifficulty)
	}
	if cfg.PostDifficulty < 0 || cfg.PostDifficulty > post.MaxWork {
		return nil, fmt.Errorf("p2p: post difficulty %d is outside 0..%d", cfg.PostDifficulty, post.MaxWork)
	}
	if _, err := ParseDHTMode(cfg.DHTMode); err != nil {
		return nil, fmt.Errorf("p2p: %w", err)
	}
	if cfg.Host != nil && cfg.NATTraversal {
		return nil, errors.New("p2p: NAT traversal needs the node's own libp2p host, not Config.Host's")
	}
	id, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("p2p: peer ID of the key: %w", err)
	} else if !puzzle.Solves(id, cfg.IDDifficulty) {
		return nil, &ShortIdentityError{ID: id, Bits: puzzle.Bits(id), Difficulty: cfg.IDDifficulty}
	}
	offenders := newOffenders()
	m := newServiceMetrics(metrics.Or(cfg.Metrics))
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		cfg: cfg, log: cfg.Logger, self: id, store: cfg.Store, hold: cfg.Holdings,
		trigger: make(chan struct{}, 1), offenders: offenders,
		metrics: m, pace: newPacer(metrics.Or(cfg.Metrics)),
		ctx: ctx, cancel: cancel,
	}
	s.hold.setKeysOf(s.keysOf)
	s.splits.learners = make(chan struct{}, maxSplitLearners)
	// The host's hole-punch tracer and relay source report to s; they
	// read s.host only after the routing table is published (reach.table).
	h, err := newHost(cfg, banGater{o: offenders, difficulty: cfg.IDDifficulty, next: cfg.Gater,
		refused: m.refused.WithLabelValues(metrics.ProtocolConn, metrics.RefusedIdentity)}, s)
	if err != nil {
		cancel()
		return nil, err
	}
	s.host = h
	s.probe = newProber(s)
	s.streams = newStreamPool()
	s.newInbound()
	s.live = live.NewRegistry()
	s.live.KeysOf = s.keysOf
	s.live.OnDrop = m.liveDropped.Inc
	dhtHost := s.startReach()
	s.dht, err = dht.New(dhtHost,
		dht.ProtocolPrefix(ProtocolPrefix(cfg.Network)),
		// kad-dht's own auto mode never turns server on LAN or loopback
		// addresses, where AutoNAT says nothing: murmur's auto is a server
		// until AutoNAT finds it unreachable (ModeAutoServer), with the
		// verdict passed on late (watchReach).
		dht.Mode(dhtModeOption(cfg.DHTMode)),
		dht.BucketSize(s.bucketSize()),
		dht.DisableValues(),
		dht.DisableProviders(),
		dht.BootstrapPeersFunc(s.bootstrapPeers),
		// Peers whose ID fails the puzzle are refused at the connection
		// already (banGater); the DHT's own filters keep them out of the
		// table and of lookups should one come another way.
		dht.RoutingTableFilter(func(_ any, p peer.ID) bool { return puzzle.Solves(p, cfg.IDDifficulty) }),
		dht.QueryFilter(func(_ any, ai peer.AddrInfo) bool { return puzzle.Solves(ai.ID, cfg.IDDifficulty) }),
		dht.RoutingTablePeerDiversityFilter(newDiversityFilter(h)),
	)
	if err != nil {
		cancel()
		h.Close()
		return nil, fmt.Errorf("start DHT: %w", err)
	}
	s.reach.table.Store(s.dht.RoutingTable())
	s.metrics.dhtServer.Set(boolGauge(s.reach.server.Load()))
	if err := s.watchReach(); err != nil {
		s.dht.Close()
		cancel()
		h.Close()
		return nil, err
	}
	s.owners = newOwnerCache(s)
	s.survey = &survey{s: s}
	s.repair = newRepairer(s)
	s.writers = newRecentWriters()
	h.SetStreamHandler(StoreProtocol(cfg.Network), s.handleStore)
	h.SetStreamHandler(SyncProtocol(cfg.Network), s.handleSync)
	for _, id := range SearchProtocols(cfg.Network) {
		h.SetStreamHandler(id, s.handleSearch)
	}
	for _, id := range StatsProtocols(cfg.Network) {
		h.SetStreamHandler(id, s.handleStats)
	}
	h.SetStreamHandler(LiveProtocol(cfg.Network), s.handleLive)
	h.SetStreamHandler(DialbackProtocol(cfg.Network), s.handleDialback)

	sub, err := h.EventBus().Subscribe([]any{new(event.EvtPeerConnectednessChanged), new(event.EvtPeerIdentificationCompleted)})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("subscribe to peer events: %w", err)
	}
	s.wg.Add(1)
	go s.watchPeers(sub)

	if cfg.MDNS {
		s.mdns = mdns.NewMdnsService(h, MDNSService(cfg.Network), mdnsNotifee{s})
		if err := s.mdns.Start(); err != nil {
			s.log.Warn("mDNS discovery is off", "err", err)
			s.mdns = nil
		}
	}
	if cfg.Bootstrap == nil {
		s.joined.Store(true)
	}
	if cfg.NATTraversal || cfg.DHTMode == DHTModeAuto {
		if err := s.dialbackLoop(); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.wg.Add(2)
	go s.joinLoop()
	go s.repair.loop(ctx)
	s.log.Info("network started", "network", cfg.Network, "addrs", s.Addrs(), "dht_mode", cfg.DHTMode)
	return s, nil
}

func newHost(cfg Config, gater connmgr.ConnectionGater, s *Service) (host.Host, error) {
	if cfg.Host != nil {
		h, err := cfg.Host(cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("start the given libp2p host: %w", err)
		}
		return h, nil
	}
	cm, err := cmgr.NewConnManager(cfg.ConnLow, cfg.ConnHigh, cmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	var rmOpts []rcmgr.Option
	if cfg.LibP2PMetrics != nil {
		rcmgr.MustRegisterWith(cfg.LibP2PMetrics)
		str, err := rcmgr.NewStatsTraceReporter()
		if err != nil {
			return nil, fmt.Errorf("resource manager metrics: %w", err)
		}
		rmOpts = append(rmOpts, rcmgr.WithTraceReporter(str))
	} else {
		rmOpts = append(rmOpts, rcmgr.WithMetricsDisabled())
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(resourceLimits()), rmOpts...)
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(cfg.Key),
		libp2p.ListenAddrStrings(cfg.Listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(rm),
	}
	opts = append(opts, libp2p.ConnectionGater(gater))
	if cfg.NATTraversal {
		var hpMetrics holepunch.MetricsTracer
		var relayMetrics relayv2.MetricsTracer
		if cfg.LibP2PMetrics != nil {
			hpMetrics = holepunch.NewMetricsTracer(holepunch.WithRegisterer(cfg.LibP2PMetrics))
			relayMetrics = relayv2.NewMetricsTracer(relayv2.WithRegisterer(cfg.LibP2PMetrics))
		}
		opts = append(opts,
			libp2p.NATPortMap(),
			libp2p.EnableNATService(),
			libp2p.EnableAutoNATv2(),
			libp2p.EnableHolePunching(holepunch.WithMetricsAndEventTracer(hpMetrics, holePunchTracer{s})),
			// libp2p runs the relay service only while the node is
			// reachable, with its default reservation and circuit limits.
			libp2p.EnableRelayService(relayv2.WithMetricsTracer(relayTracer{s: s, next: relayMetrics})),
			// A reservation is sought as soon as one candidate is known
			// (the default waits for 4, or 3 minutes), and a relay that
			// refused is tried again after a minute, not an hour: the
			// relays of a small network are few, and one that just found
			// itself reachable starts its service late.
			libp2p.EnableAutoRelayWithPeerSource(s.relayCandidates,
				autorelay.WithMinCandidates(1), autorelay.WithBootDelay(30*time.Second), autorelay.WithBackoff(time.Minute)),
		)
	}
	if cfg.LibP2PMetrics != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(cfg.LibP2PMetrics))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("start libp2p host on %v: %w", cfg.Listen, err)
	}
	return h, nil
}

// ID is the node's peer ID.
func (s *Service) ID() peer.ID { return s.self }

// Host is the libp2p host (for protocols built on top, such as search).
func (s *Service) Host() host.Host { return s.host }

// Network is the name of the network the node belongs to.
func (s *Service) Network() string { return s.cfg.Network }

// Replicas is R, the number of owners of each key.
func (s *Service) Replicas() int { return s.cfg.Replicas }

// Addrs returns the node's dialable multiaddrs, each ending in /p2p/<id>,
// ready for another node's --bootstrap. Wildcard listen addresses are
// expanded to the interfaces' addresses by the host.
func (s *Service) Addrs() []string {
	info := peer.AddrInfo{ID: s.self, Addrs: s.host.Addrs()}
	full, err := peer.AddrInfoToP2pAddrs(&info)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(full))
	for _, a := range full {
		out = append(out, a.String())
	}
	sort.Strings(out)
	return out
}

// PeerIDs returns the IDs of the connected peers, sorted.
func (s *Service) PeerIDs() []string {
	ps := s.host.Network().Peers()
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	sort.Strings(out)
	return out
}

// Peers is the number of peers the host is connected to.
func (s *Service) Peers() int { return len(s.host.Network().Peers()) }

// RoutingTableSize is the number of DHT servers in the routing table.
// bucketSize is the routing table's bucket size (Config.BucketSize).
func (s *Service) bucketSize() int {
	if s.cfg.BucketSize > 0 {
		return s.cfg.BucketSize
	}
	return KadBucketSize
}

func (s *Service) RoutingTableSize() int { return s.dht.RoutingTable().Size() }

// KeysOwned is the number of held keys the node is an owner of, as of the
// last repair pass.
func (s *Service) KeysOwned() int { return s.repair.owned() }

// Joined reports whether the node has joined the network through one of its
// bootstrap peers (always true for a node started without any).
func (s *Service) Joined() bool { return s.joined.Load() }

// RefreshRouting asks the DHT to refresh its routing table in the
// background (tests use it to speed up convergence).
func (s *Service) RefreshRouting() {
	select {
	case <-s.dht.ForceRefresh():
	default:
	}
}

// TriggerRepair asks for a repair pass now (it runs in the background).
func (s *Service) TriggerRepair() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// Close stops repair and discovery, then the DHT and the host, and waits
// for every goroutine the service started.
func (s *Service) Close() error {
	s.handlingMu.Lock()
	s.closing = true
	s.handlingMu.Unlock()
	s.cancel()
	s.probe.close()
	s.streams.closeAll()
	if s.mdns != nil {
		s.mdns.Close()
	}
	s.host.RemoveStreamHandler(StoreProtocol(s.cfg.Network))
	s.host.RemoveStreamHandler(SyncProtocol(s.cfg.Network))
	var errs []error
	if s.dht != nil {
		if err := s.dht.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close DHT: %w", err))
		}
	}
	if err := s.host.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close host: %w", err))
	}
	s.handling.Wait()
	s.wg.Wait()
	return errors.Join(errs...)
}

func (s *Service) bootstrapPeers() []peer.AddrInfo {
	if s.cfg.Bootstrap == nil {
		return nil
	}
	return s.cfg.Bootstrap()
}

// joinLoop connects to the bootstrap peers until one answers, then fills
// the routing table; it retries with backoff while none does.
func (s *Service) joinLoop() {
	defer s.wg.Done()
	if s.cfg.Bootstrap == nil {
		return
	}
	backoff := 250 * time.Millisecond
	for {
		peers := s.cfg.Bootstrap()
		connected := 0
		for _, ai := range peers {
			if ai.ID == s.self {
				continue
			}
			ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
			err := s.host.Connect(ctx, ai)
			cancel()
			if err != nil {
				s.log.Warn("bootstrap peer did not answer", "bootstrap", ai.ID, "err", err)
				continue
			}
			connected++
		}
		if connected > 0 || (len(peers) == 1 && peers[0].ID == s.self) {
			if s.waitRoutingTable() {
				select {
				case <-s.dht.RefreshRoutingTable():
				case <-s.ctx.Done():
					return
				}
				s.joined.Store(true)
				s.log.Info("joined the network", "peers", s.Peers(), "routing_table", s.RoutingTableSize())
				s.TriggerRepair()
				s.keepRoutingTable()
				return
			}
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// keepRoutingTable makes every peer in the routing table irreplaceable:
// it leaves a bucket only when it stops answering (kad-dht's liveness
// checks), as Kademlia keeps the long-lived peers it knows. kad-dht adds
// peers as replaceable while it bootstraps, which in practice lasts until
// its periodic refresh 10 minutes on: in a full bucket (past about 25
// nodes) the peers that answer queries then replace each other every
// second or so, each swap is a change of membership, and the node counts
// as settling all that time (queriers ask every owner, nothing is
// evicted, repair passes run again and again). Found by running real
// nodes in the simulated network (package internal/simnet).
func (s *Service) keepRoutingTable() { s.dht.RoutingTable().MarkAllPeersIrreplaceable() }

// waitRoutingTable waits briefly for a connected peer to enter the routing
// table (identify and a liveness check come first).
func (s *Service) waitRoutingTable() bool {
	deadline := time.Now().Add(5 * time.Second)
	for s.dht.RoutingTable().Size() == 0 {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-s.ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// watchPeers removes peers that went away from the routing table at once, so
// ownership moves to live nodes: kad-dht itself keeps a disconnected peer
// until a refresh finds it dead, minutes later. A peer that merely lost its
// connection (trimmed by the connection manager) is redialed first, and
// only one that does not answer counts as a writer leaving (writerLeft).
func (s *Service) watchPeers(sub event.Subscription) {
	defer s.wg.Done()
	defer sub.Close()
	checks := make(chan struct{}, 8) // bounds concurrent liveness checks
	var checkers sync.WaitGroup
	defer checkers.Wait()
	for {
		select {
		case <-s.ctx.Done():
			return
		case e, ok := <-sub.Out():
			if !ok {
				return
			}
			if id, ok := e.(event.EvtPeerIdentificationCompleted); ok {
				s.repair.peerConnected(id.Peer)
				continue
			}
			ev := e.(event.EvtPeerConnectednessChanged)
			if ev.Connectedness == network.Connected {
				continue
			}
			if s.dht.RoutingTable().Find(ev.Peer) == "" && !s.owners.knows(ev.Peer) {
				// Not a member, so not redialed: nothing tells a trimmed
				// connection from a departure, and the keys it wrote are
				// compared at once.
				s.writerLeft(ev.Peer)
				continue
			}
			select {
			case checks <- struct{}{}:
			default:
				// Too many checks at once: drop the peer without redialing.
				s.dht.RoutingTable().RemovePeer(ev.Peer)
				s.owners.forget(ev.Peer)
				s.writerLeft(ev.Peer)
				continue
			}
			checkers.Add(1)
			go func(p peer.ID) {
				defer checkers.Done()
				defer func() { <-checks }()
				s.checkPeer(p)
			}(ev.Peer)
		}
	}
}

func (s *Service) checkPeer(p peer.ID) {
	select {
	case <-s.ctx.Done():
		return
	case <-time.After(200 * time.Millisecond):
	}
	if s.host.Network().Connectedness(p) == network.Connected {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 3*time.Second)
	defer cancel()
	if err := s.host.Connect(ctx, peer.AddrInfo{ID: p}); err != nil {
		if s.ctx.Err() != nil {
			return
		}
		s.log.Info("peer left", "left", p, "err", err)
		s.dht.RoutingTable().RemovePeer(p)
		s.owners.forget(p)
		s.writerLeft(p)
		s.TriggerRepair()
	}
}

type mdnsNotifee struct{ s *Service }

// HandlePeerFound connects to a peer of the same network found on the LAN.
func (n mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	s := n.s
	if ai.ID == s.self || s.ctx.Err() != nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		if err := s.host.Connect(ctx, ai); err != nil {
			s.log.Debug("mDNS peer did not answer", "found", ai.ID, "err", err)
		}
	}()
}

// ParseAddrs parses full multiaddrs (ending in /p2p/<id>) into peers.
func ParseAddrs(addrs []string) ([]peer.AddrInfo, error) {
	var mas []ma.Multiaddr
	for _, a := range addrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", a, err)
		}
		mas = append(mas, m)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("addresses must end in /p2p/<peer ID>: %w", err)
	}
	return infos, nil
}

var _ Store = (*index.Index)(nil)
