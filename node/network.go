package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/post"
)

// NetworkConfig is how a node takes part in the network. Zero values are the
// documented defaults.
type NetworkConfig struct {
	// Name scopes the node to one network (default p2p.DefaultNetwork).
	Name string
	// Listen are libp2p multiaddrs (default TCP and QUIC on all IPv4
	// interfaces, free ports).
	Listen []string
	// Bootstrap are full multiaddrs (ending in /p2p/<id>) of peers to join
	// through.
	Bootstrap []string
	// BootstrapFile, if set, is read for more bootstrap multiaddrs (one per
	// line) each time the node tries to join; it may appear later.
	BootstrapFile string
	// AddrsFile, if set, receives the node's own full multiaddrs, one per
	// line, once it listens: the other side of BootstrapFile.
	AddrsFile string
	// MDNS discovers peers of the same network on the local network.
	MDNS bool
	// Replicas (R) and WriteQuorum (W); defaults 3 and 2.
	Replicas, WriteQuorum int
	// ProcessMetrics registers go-libp2p's process-wide metrics with the
	// node's registry: set it only when one node runs in the process.
	ProcessMetrics bool
	// AuthorRate and AuthorBurst bound the new posts one author may write
	// per second at this node as an owner (p2p.DefaultAuthorRate and
	// p2p.DefaultAuthorBurst).
	AuthorRate  float64
	AuthorBurst int
	// IDDifficulty is the network's identity puzzle (p2p.Config's); a new
	// node grinds a key that solves it at its first start. Zero asks
	// nothing; DefaultConfig sets puzzle.DefaultDifficulty.
	IDDifficulty int
	// PostDifficulty is the network's proof of work on posts
	// (p2p.Config's); the node's own posts carry it. Zero asks nothing;
	// DefaultConfig sets p2p.DefaultPostDifficulty.
	PostDifficulty int
	// DHTMode is auto, server or client (p2p.DHTMode*); the zero value is
	// server, DefaultConfig sets auto.
	DHTMode string
	// SettleMargin is p2p.Config's: how long after a repair pass that
	// followed a membership change queriers still ask every owner. Zero
	// is p2p's default (3 minutes).
	SettleMargin time.Duration
	// KeySettleFor is p2p.Config's: how long the keys a membership change
	// touched still count as settling after it. Zero is p2p's default
	// (its full-sync interval and SettleMargin).
	KeySettleFor time.Duration
	// NoLending is p2p.Config's: the node serves no peer's searches beyond
	// the peer's rate, idle or not.
	NoLending bool
	// SplitAt is p2p.Config's: how many posts of a term the owners of its
	// key hold when they split it (zero: keyspace.SplitAt; negative:
	// never). Tests and benchmarks lower it.
	SplitAt int
	// RepairInterval is p2p.Config's (zero: a minute), and EvictInterval
	// too (zero: 10 minutes; negative: never).
	RepairInterval, EvictInterval time.Duration
	// BucketSize is p2p.Config's (zero: kad's 20); tests lower it.
	BucketSize int
	// NATTraversal turns on port mapping, AutoNAT, hole punching and
	// circuit relay (p2p.Config's); DefaultConfig sets it.
	NATTraversal bool
	// Relays are full multiaddrs of relays to reserve a slot on first while
	// the node is unreachable (--relay).
	Relays []string
	// ModeSwitchDelay is how long a reachability verdict must hold before
	// an auto node switches its DHT mode (p2p's default, 2 minutes).
	ModeSwitchDelay time.Duration
	// AloneAfter is how long the node goes without a peer of its network,
	// from its start or since its last peer left, before it says it is
	// alone, in its log and status (default 30 s; negative: never).
	AloneAfter time.Duration
	// Host is p2p.Config's: it makes the node's libp2p host in place of
	// one on Listen (an in-process simulated network's, package
	// internal/simnet).
	Host func(key crypto.PrivKey) (host.Host, error)
}

// startNetwork starts the node's libp2p host and joins the network.
func (n *Node) startNetwork() error {
	nc := n.cfg.Network
	contact, err := newContact(nc, n.cfg.DataDir, n.id, n.started, n.log)
	if err != nil {
		return err
	}
	n.contact = contact
	bootstrap := contact.bootstrapFunc()
	relays, err := p2p.ParseAddrs(nc.Relays)
	if err != nil {
		return fmt.Errorf("--relay: %w", err)
	}
	cfg := p2p.Config{
		DHTMode:         nc.DHTMode,
		SettleMargin:    nc.SettleMargin,
		KeySettleFor:    nc.KeySettleFor,
		NoLending:       nc.NoLending,
		SplitAt:         nc.SplitAt,
		RepairInterval:  nc.RepairInterval,
		EvictInterval:   nc.EvictInterval,
		BucketSize:      nc.BucketSize,
		ModeSwitchDelay: nc.ModeSwitchDelay,
		NATTraversal:    nc.NATTraversal,
		Relays:          relays,
		Key:             n.key,
		Network:         nc.Name,
		Listen:          nc.Listen,
		Bootstrap:       bootstrap,
		MDNS:            nc.MDNS,
		Replicas:        nc.Replicas,
		WriteQuorum:     nc.WriteQuorum,
		Store:           n.index,
		Holdings:        n.holdings,
		Metrics:         n.registry,
		Logger:          n.log,
		Searcher:        n.serveSearch,
		AuthorRate:      nc.AuthorRate,
		AuthorBurst:     nc.AuthorBurst,
		IDDifficulty:    nc.IDDifficulty,
		PostDifficulty:  nc.PostDifficulty,
		Host:            nc.Host,
	}
	if nc.ProcessMetrics {
		reg, stop, err := metrics.ProcessWide(n.registry)
		if err != nil {
			return err
		}
		cfg.LibP2PMetrics, n.stopProcessMetrics = reg, stop
	}
	n.net, err = p2p.New(cfg)
	if err != nil {
		return err
	}
	if nc.AddrsFile != "" {
		if err := writeAddrsFile(nc.AddrsFile, n.net.Addrs()); err != nil {
			n.net.Close()
			return err
		}
	}
	if err := contact.start(n.net); err != nil {
		n.net.Close()
		return err
	}
	return nil
}

// readAddrsFile reads full multiaddrs, one per line; blank lines and lines
// starting with # are skipped.
func readAddrsFile(path string) ([]peer.AddrInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var addrs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		addrs = append(addrs, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return p2p.ParseAddrs(addrs)
}

// writeAddrsFile replaces path atomically, so a reader never sees half.
func writeAddrsFile(path string, addrs []string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".addrs-*")
	if err != nil {
		return fmt.Errorf("write addresses file: %w", err)
	}
	_, werr := tmp.WriteString(strings.Join(addrs, "\n") + "\n")
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write addresses file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write addresses file: %w", err)
	}
	return nil
}

// place sends posts the local index accepted to the owners of their keys.
// errs holds the index's answer per post; posts it refused are skipped, and
// a post that fell short of the write quorum gets the *p2p.ShortError.
func (n *Node) place(ctx context.Context, posts []*post.Post, errs []error) {
	var ok []*post.Post
	var at []int
	for i, e := range errs {
		if e == nil {
			ok = append(ok, posts[i])
			at = append(at, i)
		}
	}
	if len(ok) == 0 {
		return
	}
	for j, e := range n.net.Place(ctx, ok) {
		var short *p2p.ShortError
		if errors.As(e, &short) {
			errs[at[j]] = short
		}
	}
}

// networkStatus fills the network fields of a status.
func (n *Node) networkStatus(s *api.Status) {
	s.Network = n.net.Network()
	s.Addrs = n.net.Addrs()
	s.Peers = n.net.Peers()
	s.PeerIDs = n.net.PeerIDs()
	s.RoutingTable = n.net.RoutingTableSize()
	s.Keys = n.net.KeysOwned()
	s.HeldKeys = n.holdings.Len()
	s.Joined = n.net.Joined()
	s.Reachability = n.net.Reachability()
	s.DHTMode = n.net.DHTMode()
	s.PublicAddrs = n.net.PublicAddrs()
	s.RelayAddrs = n.net.RelayAddrs()
	s.HolePunches = n.net.HolePunches()
	s.RelayedPeers = n.net.RelayedPeers()
	s.Relay.On, s.Relay.Reservations, s.Relay.Connections = n.net.RelayService()
	n.contact.status(s)
}

// Net is the node's network service (tests and the search layer use it).
func (n *Node) Net() *p2p.Service { return n.net }

// WalkPosts calls fn with every post the node holds (tests and tools).
func (n *Node) WalkPosts(ctx context.Context, fn func(*post.Post) error) error {
	return n.index.Walk(ctx, fn)
}
