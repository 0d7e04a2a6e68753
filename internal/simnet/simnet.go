// Package simnet runs real murmur nodes (package node, and through it p2p's
// placement, owner lookups, repair, eviction, splits, statistics and the
// network search, unchanged) in one process over libp2p's in-process
// simulated network (mocknet): the nodes' hosts exchange their streams
// through memory, with a latency on every link, and nodes crash and join
// as the caller says. The seam is p2p.Config.Host: the only code that
// differs from a real node is the host it is given.
//
// Time is real: repair, eviction and splits run on their own schedules
// (Options.RepairInterval shortens repair's). Each node still keeps a real
// bleve index on disk and serves its HTTP API on 127.0.0.1, so a network of
// a few hundred nodes fits this machine; package internal/sim models
// larger ones.
package simnet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/sync/errgroup"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/node"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/post"
)

// Options configure a simulated network. Zero values are the defaults.
type Options struct {
	// Latency is every link's one-way delay (none when zero); Bandwidth
	// its bytes per second (unbounded when zero).
	Latency   time.Duration
	Bandwidth float64
	// Seed draws node i's identity from a stream of the seed and i, so
	// that a network of the same size places every key on the same nodes
	// run after run. 0 draws random identities.
	Seed uint64
	// Replicas and WriteQuorum are the network's (p2p's defaults, 3 and
	// 2, when zero).
	Replicas, WriteQuorum int
	// SplitAt, RepairInterval, SettleMargin, KeySettleFor and
	// EvictInterval are p2p.Config's.
	SplitAt        int
	RepairInterval time.Duration
	SettleMargin   time.Duration
	KeySettleFor   time.Duration
	EvictInterval  time.Duration
	// BucketSize is p2p.Config's: fewer than kad's 20 peers a bucket make
	// a small network outgrow its routing tables as a large one does.
	BucketSize int
	// Logger receives the nodes' logs (default: errors only, discarded).
	Logger *slog.Logger
}

// Network is a running simulated network. Its methods are safe for
// concurrent use.
type Network struct {
	mn   mocknet.Mocknet
	dir  string
	name string
	opts Options

	mu    sync.Mutex
	nodes []*Member
}

// Member is one node of the simulated network.
type Member struct {
	*node.Node
	// Index is the node's position in the order the nodes started.
	Index int

	cancel context.CancelFunc
	done   chan error
}

// Alive reports whether the node still runs.
func (m *Member) Alive() bool { return m.cancel != nil }

// Start starts n nodes, each joined through the ones before it, and waits
// until every routing table holds what kad-dht can hold of the others.
// progress, if set, is told how many have started.
func Start(ctx context.Context, dir string, n int, opts Options, progress func(done, total int)) (*Network, error) {
	if n < 1 {
		return nil, fmt.Errorf("a network of %d nodes", n)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	mn := mocknet.New()
	mn.SetLinkDefaults(mocknet.LinkOptions{Latency: opts.Latency, Bandwidth: opts.Bandwidth})
	net := &Network{mn: mn, dir: dir, name: "sim", opts: opts}
	for i := range n {
		if _, err := net.Add(ctx); err != nil {
			net.Close()
			return nil, err
		}
		if progress != nil {
			progress(i+1, n)
		}
	}
	if err := net.WaitRouting(ctx); err != nil {
		net.Close()
		return nil, err
	}
	return net, nil
}

// Add starts one more node, linked to every node alive and joined through
// one of them: a node that joins.
func (net *Network) Add(ctx context.Context) (*Member, error) {
	net.mu.Lock()
	i := len(net.nodes)
	m := &Member{Index: i}
	net.nodes = append(net.nodes, m)
	var bootstrap []string
	for _, o := range slices.Backward(net.nodes[:i]) {
		if o.Alive() {
			bootstrap = o.Net().Addrs()
			break
		}
	}
	net.mu.Unlock()
	dataDir := filepath.Join(net.dir, fmt.Sprintf("node-%04d", i))
	if net.opts.Seed != 0 {
		if _, err := post.LoadOrCreateKey(dataDir, func() (crypto.PrivKey, error) {
			var seed [32]byte
			binary.LittleEndian.PutUint64(seed[:8], net.opts.Seed)
			binary.LittleEndian.PutUint64(seed[8:16], uint64(i))
			k, _, err := crypto.GenerateEd25519Key(rand.NewChaCha8(seed))
			return k, err
		}); err != nil {
			return nil, fmt.Errorf("identity of node %d: %w", i, err)
		}
	}
	nd, err := node.New(node.Config{
		DataDir:      dataDir,
		APIAddr:      "127.0.0.1:0",
		Logger:       net.opts.Logger.With("node", i),
		MinFreeBytes: -1,
		Network: node.NetworkConfig{
			Name:           net.name,
			Bootstrap:      bootstrap,
			Replicas:       net.opts.Replicas,
			WriteQuorum:    net.opts.WriteQuorum,
			DHTMode:        p2p.DHTModeServer,
			SettleMargin:   net.opts.SettleMargin,
			KeySettleFor:   net.opts.KeySettleFor,
			SplitAt:        net.opts.SplitAt,
			RepairInterval: net.opts.RepairInterval,
			EvictInterval:  net.opts.EvictInterval,
			BucketSize:     net.opts.BucketSize,
			AloneAfter:     -1,
			Host:           func(key crypto.PrivKey) (host.Host, error) { return net.host(key, i) },
		},
	})
	if err != nil {
		return nil, fmt.Errorf("start node %d: %w", i, err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- nd.Run(runCtx) }()
	net.mu.Lock()
	m.Node, m.done, m.cancel = nd, done, cancel
	net.mu.Unlock()
	for !nd.Ready() {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return m, nil
}

// host adds node i's host to the mocknet, at an address of its own in
// 10.0.0.0/8 (a private block, as p2p's diversity filter expects of a
// LAN), and links it to every node alive.
func (net *Network) host(key crypto.PrivKey, i int) (host.Host, error) {
	addr, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4001", (i>>16)&0xff, (i>>8)&0xff, i&0xff))
	if err != nil {
		return nil, err
	}
	h, err := net.mn.AddPeer(key, addr)
	if err != nil {
		return nil, fmt.Errorf("add node %d to the simulated network: %w", i, err)
	}
	net.mu.Lock()
	defer net.mu.Unlock()
	for _, o := range net.nodes {
		if o.Alive() {
			if _, err := net.mn.LinkPeers(h.ID(), o.ID()); err != nil {
				return nil, fmt.Errorf("link node %d to node %d: %w", i, o.Index, err)
			}
		}
	}
	return h, nil
}

// Crash stops node i as a power cut would: its links and connections are
// cut first, so that nothing it says reaches a peer, then it stops. What it held stays
// on its disk; it does not come back (a new node joins with Add).
func (net *Network) Crash(i int) error {
	net.mu.Lock()
	m := net.nodes[i]
	cancel := m.cancel
	m.cancel = nil
	net.mu.Unlock()
	if cancel == nil {
		return nil
	}
	for _, o := range net.Alive() {
		// mocknet keeps a connection whose link is cut: it is closed too,
		// as the peers' side of a dead machine's connections ends once
		// their keep-alives time out.
		_ = net.mn.UnlinkPeers(m.ID(), o.ID())
		_ = net.mn.DisconnectPeers(m.ID(), o.ID())
	}
	cancel()
	if err := <-m.done; err != nil {
		return fmt.Errorf("node %d stopped with: %w", i, err)
	}
	return nil
}

// Started is how many nodes have started, crashed ones included.
func (net *Network) Started() int {
	net.mu.Lock()
	defer net.mu.Unlock()
	return len(net.nodes)
}

// Alive returns the nodes that run, in the order they started.
func (net *Network) Alive() []*Member {
	net.mu.Lock()
	defer net.mu.Unlock()
	var out []*Member
	for _, m := range net.nodes {
		if m.Alive() {
			out = append(out, m)
		}
	}
	return out
}

// Close stops every node, one at a time: mocknet's connections can
// deadlock when both of their ends close at once. Every link is cut
// first, so that a node stopping waits on no peer's stream and the others'
// repair, which each departure starts, fails at once instead of syncing
// with nodes about to stop (in a CI run under -race beside other packages,
// 10 of 32 nodes took 35 minutes to stop with their links up).
func (net *Network) Close() {
	alive := net.Alive()
	for i, a := range alive {
		for _, b := range alive[i+1:] {
			_ = net.mn.UnlinkPeers(a.ID(), b.ID())
			_ = net.mn.DisconnectPeers(a.ID(), b.ID())
		}
	}
	net.mu.Lock()
	nodes := slices.Clone(net.nodes)
	net.mu.Unlock()
	for _, m := range nodes {
		net.mu.Lock()
		cancel := m.cancel
		m.cancel = nil
		net.mu.Unlock()
		if cancel != nil {
			cancel()
			<-m.done
		}
	}
	_ = net.mn.Close()
}

// WaitRouting waits until every node alive holds in its routing table what
// kad-dht can of the others (p2p.RoutingCapacity), refreshing the tables
// that lag.
func (net *Network) WaitRouting(ctx context.Context) error {
	last := time.Now()
	for {
		alive := net.Alive()
		ids := make([]peer.ID, len(alive))
		for i, m := range alive {
			ids[i] = m.ID()
		}
		refresh := time.Since(last) > 2*time.Second
		lagging := 0
		for _, m := range alive {
			if m.Net().RoutingTableSize() < p2p.RoutingCapacity(m.ID(), ids, net.opts.BucketSize) {
				lagging++
				if refresh {
					m.Net().RefreshRouting()
				}
			}
		}
		if lagging == 0 {
			return nil
		}
		if refresh {
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d routing tables still short: %w", lagging, len(alive), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// writers is how many nodes write their batches at once (Write).
const writers = 8

// Write stores posts through the nodes alive, in batches of batch, the
// i-th batch at node i mod N, up to 8 nodes at once, as their authors'
// nodes would: each node verifies, indexes and places its batch (p2p's
// placement, unchanged). It returns how many posts were stored short of
// their write quorum. progress, if set, is told how many posts are
// written.
func (net *Network) Write(ctx context.Context, posts []*post.Post, batch int, progress func(done, total int)) (short int, err error) {
	batch = max(batch, 1)
	alive := net.Alive()
	if len(alive) == 0 {
		return 0, errors.New("no node alive")
	}
	var mu sync.Mutex
	written := 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(writers)
	for i := 0; i < len(posts); i += batch {
		ps := posts[i:min(i+batch, len(posts))]
		m := alive[(i/batch)%len(alive)]
		g.Go(func() error {
			errs, err := m.Accept(gctx, ps...)
			if err != nil {
				return fmt.Errorf("write at node %d: %w", m.Index, err)
			}
			mu.Lock()
			defer mu.Unlock()
			for j, e := range errs {
				var s *p2p.ShortError
				switch {
				case e == nil:
				case errors.As(e, &s):
					short++
				default:
					return fmt.Errorf("write post %.16s at node %d: %w", ps[j].ID, m.Index, e)
				}
			}
			written += len(ps)
			if progress != nil {
				progress(written, len(posts))
			}
			return nil
		})
	}
	err = g.Wait()
	return short, err
}

// Settle waits until no node alive counts itself as settling (p2p: a
// repair pass since the last change of membership, and its margin).
func (net *Network) Settle(ctx context.Context) error { return net.SettleReporting(ctx, nil) }

// SettleReporting is Settle, calling progress, if set, with the nodes
// settled and alive whenever the count of settled ones changes.
func (net *Network) SettleReporting(ctx context.Context, progress func(settled, alive int)) error {
	last := -1
	for {
		settling := 0
		alive := net.Alive()
		for _, m := range alive {
			if m.Net().Settling() {
				settling++
			}
		}
		if progress != nil && settling != last {
			last = settling
			progress(len(alive)-settling, len(alive))
		}
		if settling == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d nodes still settling: %w", settling, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Counts are what nodes have sent, as each sender counts it
// (murmur_protocol_messages_total and murmur_protocol_bytes_total,
// direction out), by protocol (metrics.Protocol*), and the DHT lookups
// for owners they made (murmur_owner_lookups_total).
type Counts struct {
	Messages, Bytes map[string]float64
	Lookups         float64
	// HandedOff is the posts repair handed to new owners
	// (murmur_replication_handoff_posts_total).
	HandedOff float64
}

// Sum is the messages and bytes of the protocols given (every one when
// none).
func (c Counts) Sum(protocols ...string) (messages, bytes float64) {
	for p, n := range c.Messages {
		if len(protocols) == 0 || slices.Contains(protocols, p) {
			messages += n
			bytes += c.Bytes[p]
		}
	}
	return messages, bytes
}

// Minus is c less an earlier reading.
func (c Counts) Minus(before Counts) Counts {
	out := Counts{Messages: map[string]float64{}, Bytes: map[string]float64{}, Lookups: c.Lookups - before.Lookups, HandedOff: c.HandedOff - before.HandedOff}
	for p, n := range c.Messages {
		out.Messages[p] = n - before.Messages[p]
		out.Bytes[p] = c.Bytes[p] - before.Bytes[p]
	}
	return out
}

func (c *Counts) add(o Counts) {
	if c.Messages == nil {
		c.Messages, c.Bytes = map[string]float64{}, map[string]float64{}
	}
	for p, n := range o.Messages {
		c.Messages[p] += n
		c.Bytes[p] += o.Bytes[p]
	}
	c.Lookups += o.Lookups
	c.HandedOff += o.HandedOff
}

// protocols are the protocols Counts covers.
var protocols = []string{metrics.ProtocolStore, metrics.ProtocolSync, metrics.ProtocolSearch, metrics.ProtocolStats, metrics.ProtocolLive, metrics.ProtocolDialback}

// countsOf reads one node's counts (p2p.Service.Sent: its counters alone,
// not its whole registry, which a hundred nodes gather too slowly to read
// between searches).
func countsOf(m *Member) Counts {
	c := Counts{Messages: map[string]float64{}, Bytes: map[string]float64{}, Lookups: m.Net().OwnerLookups(), HandedOff: m.Net().HandedOff()}
	for _, p := range protocols {
		c.Messages[p], c.Bytes[p] = m.Net().Sent(p)
	}
	return c
}

// Traffic is what every node, alive or crashed, has sent so far. A
// crashed node's counters stay as they were when it stopped, so the
// totals never fall: they did when a node crashed between two readings,
// counted in neither while its links were cut (one query's owner lookups
// came out at -1.1 in a run under churn).
func (net *Network) Traffic() Counts {
	net.mu.Lock()
	defer net.mu.Unlock()
	var c Counts
	for _, m := range net.nodes {
		if m.Node != nil {
			c.add(countsOf(m))
		}
	}
	return c
}

// ChurnStats is what Churn did.
type ChurnStats struct {
	Leaves, Joins int
	// Failed counts the joins that failed (the error of the last in Err).
	Failed int
	Err    error
}

// Churn makes nodes leave and others join until ctx ends: each node alive
// stays for a session drawn from session (virtual time), then crashes, and
// a new node, with a new identity and nothing held, joins in its place.
// Virtual time runs scale times faster than real time. The returned
// function stops the churn (after the join of a node that just left) and
// reports what it did.
func (net *Network) Churn(ctx context.Context, session func(r *rand.Rand) time.Duration, scale float64, seed uint64) (stop func() ChurnStats) {
	ctx, cancel := context.WithCancel(ctx)
	r := rand.New(rand.NewPCG(seed, 3))
	var stats ChurnStats
	done := make(chan struct{})
	ends := map[*Member]time.Time{}
	draw := func(m *Member) {
		ends[m] = time.Now().Add(time.Duration(float64(session(r)) / scale))
	}
	for _, m := range net.Alive() {
		draw(m)
	}
	go func() {
		defer close(done)
		for {
			var next *Member
			for m, end := range ends {
				if next == nil || end.Before(ends[next]) {
					next = m
				}
			}
			if next == nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(ends[next])):
			}
			delete(ends, next)
			if err := net.Crash(next.Index); err != nil {
				stats.Failed, stats.Err = stats.Failed+1, err
			}
			stats.Leaves++
			// A leave's join completes even when the churn stops meanwhile:
			// the network keeps its size.
			m, err := net.Add(context.WithoutCancel(ctx))
			if err != nil {
				stats.Failed, stats.Err = stats.Failed+1, err
				continue
			}
			stats.Joins++
			draw(m)
		}
	}()
	return func() ChurnStats {
		cancel()
		<-done
		return stats
	}
}

// Misplaced returns the keys of posts (keyspace.Keys) that some of their
// owners do not hold exactly: the owners are the R nodes alive closest to
// the key, computed from every node's identity as no node can, and each
// holds the key's posts if its digest of the key equals theirs.
func (net *Network) Misplaced(posts []*post.Post) []string {
	alive := net.Alive()
	if len(alive) == 0 {
		return nil
	}
	byID := make(map[peer.ID]*Member, len(alive))
	ids := make([]peer.ID, 0, len(alive))
	for _, m := range alive {
		byID[m.ID()] = m
		ids = append(ids, m.ID())
	}
	r := alive[0].Net().Replicas()
	want := map[string][]string{}
	for _, p := range posts {
		for _, k := range keyspace.Keys(p) {
			want[k] = append(want[k], p.ID)
		}
	}
	var missing []string
	for key, postIDs := range want {
		d := p2p.DigestOf(key, postIDs)
		owners := kb.SortClosestPeers(ids, kb.ConvertKey(key))
		for _, o := range owners[:min(r, len(owners))] {
			if byID[o].Net().LocalDigest(key) != d {
				missing = append(missing, key)
				break
			}
		}
	}
	slices.Sort(missing)
	return missing
}

// WaitPlaced waits until every key of posts is at each of its owners
// (Misplaced), asking the nodes to repair every 2 seconds meanwhile.
func (net *Network) WaitPlaced(ctx context.Context, posts []*post.Post) error {
	for {
		missing := net.Misplaced(posts)
		if len(missing) == 0 {
			return nil
		}
		for _, m := range net.Alive() {
			m.Net().TriggerRepair()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d keys not at their owners, such as %s: %w", len(missing), missing[0], ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}
