// Package testnet starts networks of real murmur nodes on 127.0.0.1 for
// tests and benchmarks: N nodes in one process, each with its own data
// directory, libp2p host and API port, joined through the first node, on a
// network name of their own so parallel tests never mix. Nodes can be
// killed, restarted and added while the network runs.
package testnet

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/node"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/post"
)

// Options configure a test network. Zero values are the defaults.
type Options struct {
	// Replicas and WriteQuorum default to the network's defaults (3, 2).
	Replicas, WriteQuorum int
	// Logger defaults to a logger that discards everything below errors.
	Logger *slog.Logger
	// FixedPorts makes a restarted node listen on the libp2p address it had,
	// as a node with a configured --listen port does; by default it takes a
	// free port.
	FixedPorts bool
	// IDDifficulty is the network's identity puzzle and PostDifficulty its
	// proof of work on posts; zero asks nothing.
	IDDifficulty, PostDifficulty int
	// SettleMargin shortens how long nodes count as settling after a
	// repair pass (p2p's default is 3 minutes), for benchmarks that
	// measure a settled network without waiting for the default.
	SettleMargin time.Duration
	// KeySettleFor shortens how long the keys a membership change touched
	// count as settling after it (p2p's default is its full-sync interval
	// and SettleMargin), for the same benchmarks.
	KeySettleFor time.Duration
	// NoLending makes the nodes serve no peer's searches beyond the peer's
	// rate (p2p.Config's), for tests of the rate alone.
	NoLending bool
	// SplitAt and RepairInterval are p2p.Config's: how many posts of a
	// term its owners hold when they split it (zero: the default,
	// negative: never), and how often repair passes run (zero: a minute).
	SplitAt        int
	RepairInterval time.Duration
	// KeySeed, when not 0, draws node i's identity from a stream of the
	// seed and i, so that a network of the same size places every key on
	// the same nodes run after run: benchmarks then compare two builds on
	// one placement. 0 draws random identities.
	KeySeed uint64
}

// Net is a running test network.
type Net struct {
	harness[*Member]
	name string
	opts Options
	dir  string
	mu   sync.Mutex
}

// Member is one node of a test network.
type Member struct {
	*node.Node
	// Index is the node's position in Net.Nodes.
	Index int
	// Dir is the node's data directory; it outlives Kill, for Restart.
	Dir string
	// API talks to the node over HTTP.
	API *api.Client

	cancel context.CancelFunc
	done   chan error
	listen string // the libp2p address of the last start
	// client: the node runs the DHT as a client (AddClient).
	client bool
}

// ProfileLabel is the pprof label that names a node (its index) in CPU
// profiles of the goroutines it starts.
const ProfileLabel = "murmur_node"

// Start starts n nodes and waits until every routing table holds every
// other node. The network stops when the test ends.
func Start(tb testing.TB, n int, opts Options) *Net {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	net := &Net{name: newName(), opts: opts, dir: tb.TempDir()}
	net.harness = harness[*Member]{tb: tb, poll: 50 * time.Millisecond, start: net.start}
	tb.Cleanup(net.Close)
	for i := 0; i < n; i++ {
		net.Add()
	}
	net.WaitRouting(30 * time.Second)
	return net
}

// newName returns a network name no other test uses.
func newName() string {
	var b [6]byte
	rand.Read(b[:])
	return "test-" + hex.EncodeToString(b[:])
}

// Name is the network's name.
func (net *Net) Name() string { return net.name }

// Add starts one more node, joined through the first live node.
func (net *Net) Add() *Member {
	net.tb.Helper()
	net.mu.Lock()
	i := len(net.Nodes)
	nd := &Member{Index: i, Dir: filepath.Join(net.dir, fmt.Sprintf("node%d", i))}
	net.Nodes = append(net.Nodes, nd)
	net.mu.Unlock()
	net.start(nd)
	return nd
}

// AddClient starts one more node that runs the DHT as a client
// (--dht-mode client), joined through the first live node. It owns no key
// and is in no routing table: WaitRouting waits for it to know every
// server, and for no server to know it.
func (net *Net) AddClient() *Member {
	net.tb.Helper()
	net.mu.Lock()
	i := len(net.Nodes)
	nd := &Member{Index: i, Dir: filepath.Join(net.dir, fmt.Sprintf("node%d", i)), client: true}
	net.Nodes = append(net.Nodes, nd)
	net.mu.Unlock()
	net.start(nd)
	return nd
}

func (net *Net) bootstrap(except *Member) []string {
	for _, other := range net.Nodes {
		if other != except && other.Alive() {
			return other.Net().Addrs()
		}
	}
	return nil
}

func (net *Net) start(nd *Member) {
	net.tb.Helper()
	if net.opts.KeySeed != 0 && net.opts.IDDifficulty == 0 {
		if _, err := post.LoadOrCreateKey(nd.Dir, func() (crypto.PrivKey, error) {
			var seed [32]byte
			binary.LittleEndian.PutUint64(seed[:8], net.opts.KeySeed)
			binary.LittleEndian.PutUint64(seed[8:16], uint64(nd.Index))
			k, _, err := crypto.GenerateEd25519Key(mrand.NewChaCha8(seed))
			return k, err
		}); err != nil {
			net.tb.Fatalf("identity of node %d: %v", nd.Index, err)
		}
	}
	listen := "/ip4/127.0.0.1/tcp/0"
	if net.opts.FixedPorts && nd.listen != "" {
		listen = nd.listen
	}
	// Every goroutine the node starts, and those they start (its
	// connections' ends, its stream handlers), carry the label
	// murmur_node=<index> in CPU profiles, so that a profile of many
	// nodes in one process tells each node's share.
	defer pprof.SetGoroutineLabels(context.Background())
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels(ProfileLabel, strconv.Itoa(nd.Index))))
	n, err := node.New(node.Config{
		DataDir: nd.Dir,
		APIAddr: "127.0.0.1:0",
		Logger:  net.opts.Logger.With("node", nd.Index),
		Network: node.NetworkConfig{
			Name:           net.name,
			Listen:         []string{listen},
			Bootstrap:      net.bootstrap(nd),
			Replicas:       net.opts.Replicas,
			WriteQuorum:    net.opts.WriteQuorum,
			IDDifficulty:   net.opts.IDDifficulty,
			PostDifficulty: net.opts.PostDifficulty,
			DHTMode:        dhtMode(nd.client),
			SettleMargin:   net.opts.SettleMargin,
			KeySettleFor:   net.opts.KeySettleFor,
			NoLending:      net.opts.NoLending,
			SplitAt:        net.opts.SplitAt,
			RepairInterval: net.opts.RepairInterval,
		},
	})
	if err != nil {
		net.tb.Fatalf("start node %d: %v", nd.Index, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	nd.Node, nd.cancel, nd.done = n, cancel, make(chan error, 1)
	nd.API = api.NewClient(n.APIAddr())
	if a := n.Net().Addrs(); len(a) > 0 {
		nd.listen, _, _ = strings.Cut(a[0], "/p2p/")
	}
	go func() { nd.done <- n.Run(ctx) }()
	net.waitFor(fmt.Sprintf("node %d ready", nd.Index), 30*time.Second, n.Ready)
}

func dhtMode(client bool) string {
	if client {
		return p2p.DHTModeClient
	}
	return p2p.DHTModeServer
}

// Alive reports whether the node runs.
func (nd *Member) Alive() bool { return nd.cancel != nil }

func (nd *Member) stop(tb testing.TB) {
	tb.Helper()
	nd.cancel()
	if err := <-nd.done; err != nil {
		tb.Errorf("node %d stopped with: %v", nd.Index, err)
	}
	nd.cancel = nil
}

func (nd *Member) routingTable() (int, bool) { return nd.Net().RoutingTableSize(), true }

func (nd *Member) dhtClient() bool { return nd.client }

func (nd *Member) peerID() (peer.ID, bool) { return nd.Net().ID(), true }

func (nd *Member) refreshRouting() { nd.Net().RefreshRouting() }

// Crash stops a node as a power cut would: its connections drop without a
// word to its peers (no protocols withdrawn, no goodbye), then it stops.
// What it had acknowledged stays on its disk.
func (net *Net) Crash(i int) {
	net.tb.Helper()
	nd := net.Nodes[i]
	if !nd.Alive() {
		return
	}
	nd.Net().Host().Network().Close()
	nd.cancel()
	<-nd.done // the node's own shutdown finds its network gone: errors expected
	nd.cancel = nil
}
