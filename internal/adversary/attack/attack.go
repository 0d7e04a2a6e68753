// Package attack plays a hostile peer against a murmur network on this
// machine, for tests and for operators who audit their own network: it
// joins as an ordinary peer, runs one attack for a bounded time, and
// reports what it sent and what the network refused. It speaks the wire
// protocols from its own message definitions, as an outside attacker
// would, and dials addresses of this machine only.
package attack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-msgio"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/puzzle"
)

// Bounds of a run.
const (
	// DefaultDuration is how long an attack runs unless told otherwise.
	DefaultDuration = 20 * time.Second
	// MaxDuration bounds how long an attack may run.
	MaxDuration = 10 * time.Minute
	// maxMessage bounds one message read from the network.
	maxMessage = 4 << 20
)

// Config says whom to attack and for how long.
type Config struct {
	// Bootstrap are full multiaddrs of peers of the network, on this machine.
	Bootstrap []string
	// Network is the network's name.
	Network string
	// Target, if set, limits the attack to one peer.
	Target peer.ID
	// Duration bounds the attack (DefaultDuration; at most MaxDuration).
	Duration time.Duration
	// Identities is how many fresh author identities write-flood signs
	// with, and how many identities grind-owners grinds next to its term
	// (default 4 and 1).
	Identities int
	// IDDifficulty is the network's identity puzzle: every identity the
	// attacker joins with solves it (p2p.Config.IDDifficulty).
	IDDifficulty int
	// PostDifficulty is the network's proof of work on posts, which
	// sybil-flood pays on every post (p2p.Config.PostDifficulty).
	PostDifficulty int
	// Term is the word grind-owners attacks (default: a common word of
	// the posts it finds); Mode is what its owners answer: ModeHide
	// (default) or ModePromote.
	Term, Mode string
	// Replicas is the network's R (p2p.DefaultReplicas).
	Replicas int
	// Logger receives progress (default: discard).
	Logger *slog.Logger
	// Joined, if set, is called once the attacker has joined the network.
	Joined func()
	// Ready, if set, is called once an attack that sets itself up first
	// (grind-owners: its identities joined, its posts placed) is under
	// way.
	Ready func()
	// Start, if set, holds the attack back after joining until it is
	// closed, so that what joining costs the network (handing the new
	// peer its keys) can be told from what the attack costs.
	Start <-chan struct{}
}

// Report is what an attack sent and how the network answered, by kind.
type Report struct {
	Attack string
	Peers  int
	Took   time.Duration
	mu     sync.Mutex
	counts map[string]int
}

// Add counts n of kind.
func (r *Report) Add(kind string, n int) {
	if n == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = map[string]int{}
	}
	r.counts[kind] += n
}

// Set sets the count of kind.
func (r *Report) Set(kind string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = map[string]int{}
	}
	r.counts[kind] = n
}

// Count is the count of kind.
func (r *Report) Count(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[kind]
}

// String prints the report, one kind a line.
func (r *Report) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "attack %s against %d peers for %v\n", r.Attack, r.Peers, r.Took.Round(time.Millisecond))
	for _, k := range slices.Sorted(maps.Keys(r.counts)) {
		fmt.Fprintf(&b, "  %-32s %d\n", k, r.counts[k])
	}
	return b.String()
}

// An Attack is one way a hostile peer tries to harm the network.
type Attack struct {
	Name, Help string
	run        func(ctx context.Context, e *env) error
}

// Attacks lists every attack, by name.
func Attacks() []Attack {
	return []Attack{
		{"forged-tombstones", "finds posts through search and sends every node tombstones for them signed by another key, again as nodes join", forgedTombstones},
		{"poisoned-stats", "joins as an owner and answers statistics requests with inflated counts and invented owner groups", poisonedStats},
		{"idle-streams", "opens as many streams of every murmur protocol as it may and sends nothing on them", idleStreams},
		{"sync-flood", "sends sync requests of 20,000 IDs under a hot key as fast as it can", syncFlood},
		{"unowned-writes", "sends nodes posts under keys they do not own", unownedWrites},
		{"write-flood", "writes fresh posts as fast as it can, signed by several fresh identities, placed at their owners", writeFlood},
		{"grind-owners", "grinds identities closer to a term's key than its owners, enough to take --identities of their places (each solving the identity puzzle), joins with them and answers searches for the term with nothing (--mode hide) or its own posts first (--mode promote)", grindOwners},
		{"sybil-flood", "writes posts as fast as it can, each signed by the next of many fresh identities (--identities, default 200), paying the network's proof of work on posts", sybilFlood},
		{"costly-queries", "sends searches with many fuzzy terms and prefixes that match most of the dictionary", costlyQueries},
	}
}

// Run runs the named attack and returns its report.
func Run(ctx context.Context, name string, cfg Config) (*Report, error) {
	var a *Attack
	for _, x := range Attacks() {
		if x.Name == name {
			a = &x
		}
	}
	if a == nil {
		return nil, fmt.Errorf("no attack %q; see 'help'", name)
	}
	if cfg.Duration <= 0 {
		cfg.Duration = DefaultDuration
	}
	if cfg.Duration > MaxDuration {
		return nil, fmt.Errorf("--duration %v is over the limit of %v", cfg.Duration, MaxDuration)
	}
	if cfg.Identities <= 0 {
		cfg.Identities = 4
		switch name {
		case "grind-owners":
			cfg.Identities = 1
		case "sybil-flood":
			cfg.Identities = 200
		}
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = ModeHide
	case ModeHide, ModePromote:
	default:
		return nil, fmt.Errorf("--mode %q: want %s or %s", cfg.Mode, ModeHide, ModePromote)
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = p2p.DefaultReplicas
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Network == "" {
		return nil, errors.New("--network is required: attacks run against one network")
	}
	e, err := join(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer e.close()
	e.rep.Attack = name
	if cfg.Joined != nil {
		cfg.Joined()
	}
	if cfg.Start != nil {
		select {
		case <-cfg.Start:
		case <-ctx.Done():
			return e.rep, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	err = a.run(ctx, e)
	e.rep.Took = time.Since(start)
	e.rep.Peers = len(e.peers())
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = nil
	}
	return e.rep, err
}

// env is a running attacker: a peer of the network, with its own store.
type env struct {
	cfg Config
	svc *p2p.Service
	ix  *index.Index
	key crypto.PrivKey
	dir string
	rep *Report
	log *slog.Logger
}

// join starts the attacker's peer, joined through the bootstrap peers.
func join(ctx context.Context, cfg Config) (*env, error) {
	boot, err := p2p.ParseAddrs(cfg.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("--bootstrap: %w", err)
	}
	if len(boot) == 0 {
		return nil, errors.New("--bootstrap is required: the attack joins the network through it")
	}
	for _, b := range boot {
		for _, a := range b.Addrs {
			if !onThisMachine(a) {
				return nil, fmt.Errorf("--bootstrap %s is not an address of this machine: attacks run against this machine only", a)
			}
		}
	}
	key, err := puzzle.Grind(ctx, cfg.IDDifficulty, 0, time.Minute, nil)
	if err != nil {
		return nil, err
	}
	svc, ix, dir, err := startPeer(cfg, boot, key, nil)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	e := &env{cfg: cfg, svc: svc, ix: ix, key: key, dir: dir, rep: &Report{}, log: cfg.Logger}
	deadline := time.Now().Add(30 * time.Second)
	for !svc.Joined() || len(e.peers()) == 0 {
		if time.Now().After(deadline) {
			e.close()
			return nil, errors.New("no bootstrap peer answered within 30 s")
		}
		select {
		case <-ctx.Done():
			e.close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return e, nil
}

// startPeer starts one of the attacker's peers: its own store in a
// temporary directory and a real p2p service with key, joining through
// boot, answering searches with searcher (none when nil).
func startPeer(cfg Config, boot []peer.AddrInfo, key crypto.PrivKey, searcher func(*index.Index) p2p.Searcher) (*p2p.Service, *index.Index, string, error) {
	dir, err := os.MkdirTemp("", "murmur-adversary-")
	if err != nil {
		return nil, nil, "", fmt.Errorf("temporary store: %w", err)
	}
	hold := p2p.NewHoldings()
	ix, err := index.Open(index.Config{Dir: filepath.Join(dir, "index"), Logger: cfg.Logger, OnStored: hold.Add, OnDeleted: hold.Remove})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, "", err
	}
	pc := p2p.Config{
		Key: key, Network: cfg.Network, Listen: []string{"/ip4/127.0.0.1/tcp/0"},
		Bootstrap: func() []peer.AddrInfo { return boot },
		Replicas:  cfg.Replicas, Store: ix, Holdings: hold, Logger: cfg.Logger,
		Gater: localGater{}, EvictInterval: -1, IDDifficulty: cfg.IDDifficulty,
	}
	if searcher != nil {
		pc.Searcher = searcher(ix)
	}
	svc, err := p2p.New(pc)
	if err != nil {
		ix.Close()
		os.RemoveAll(dir)
		return nil, nil, "", err
	}
	return svc, ix, dir, nil
}

func (e *env) close() {
	e.svc.Close()
	e.ix.Close()
	os.RemoveAll(e.dir)
}

// peers are the network's peers the attack aims at: the target, or every
// connected peer that speaks the store protocol.
func (e *env) peers() []peer.ID {
	if e.cfg.Target != "" {
		return []peer.ID{e.cfg.Target}
	}
	var out []peer.ID
	h := e.svc.Host()
	for _, p := range h.Network().Peers() {
		if ok, _ := h.Peerstore().SupportsProtocols(p, p2p.StoreProtocol(e.cfg.Network)); len(ok) > 0 {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// exchange sends one request on a new stream of proto and reads one answer.
func (e *env) exchange(ctx context.Context, p peer.ID, proto protocol.ID, req, resp any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := e.svc.Host().NewStream(ctx, p, proto)
	if err != nil {
		return err
	}
	d, _ := ctx.Deadline()
	st.SetDeadline(d)
	body, ok := req.(json.RawMessage)
	if !ok {
		if body, err = json.Marshal(req); err != nil {
			st.Reset()
			return err
		}
	}
	if err := msgio.NewVarintWriter(st).WriteMsg(body); err != nil {
		st.Reset()
		return err
	}
	st.CloseWrite()
	if err := readJSON(st, resp); err != nil {
		st.Reset()
		return err
	}
	return st.Close()
}

func readJSON(st network.Stream, v any) error {
	rd := msgio.NewVarintReaderSize(st, maxMessage)
	body, err := rd.ReadMsg()
	if err != nil {
		return err
	}
	defer rd.ReleaseMsg(body)
	return json.Unmarshal(body, v)
}

func writeJSON(st network.Stream, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return msgio.NewVarintWriter(st).WriteMsg(body)
}

// onThisMachine reports whether a multiaddr names a loopback address or an
// address of one of this machine's interfaces.
func onThisMachine(a ma.Multiaddr) bool {
	ip, err := manet.ToIP(a)
	if err != nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		if n, ok := ia.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// localGater lets the attacker's host dial and accept addresses of this
// machine only.
type localGater struct{}

func (localGater) InterceptPeerDial(peer.ID) bool { return true }
func (localGater) InterceptAddrDial(_ peer.ID, a ma.Multiaddr) bool {
	return onThisMachine(a)
}
func (localGater) InterceptAccept(cm network.ConnMultiaddrs) bool {
	return onThisMachine(cm.RemoteMultiaddr())
}
func (localGater) InterceptSecured(network.Direction, peer.ID, network.ConnMultiaddrs) bool {
	return true
}
func (localGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
