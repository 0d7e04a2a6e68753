package node

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/murmur-p2p/murmur/internal/secretfile"
	"github.com/murmur-p2p/murmur/p2p"
)

// PeersFile is the file in the data directory where a node remembers the
// peers of its network it has been connected to, to join through them at
// its next start.
const PeersFile = "peers.json"

// Bounds of the remembered peers.
const (
	// maxRememberedPeers bounds the peers kept: the most recently seen,
	// DHT servers (the peers others can dial) first.
	maxRememberedPeers = 64
	// maxRememberedAddrs bounds the addresses kept per peer: public ones
	// first, then private, then loopback.
	maxRememberedAddrs = 8
	// maxPeersFileBytes bounds the file read back (64 peers take ~40 KiB).
	maxPeersFileBytes = 1 << 20
	// peersSaveInterval is how often the remembered peers are written while
	// the node runs; they are written at close too.
	peersSaveInterval = time.Minute
	// rememberedPerTry is how many remembered peers one attempt to join
	// dials, in turn through the list: the join loop dials them one after
	// the other, each up to 10 s when it is gone.
	rememberedPerTry = 4
)

// peersFileBody is the JSON of PeersFile.
type peersFileBody struct {
	// Network is the network the peers belong to: a data directory started
	// on another network ignores them.
	Network string           `json:"network"`
	Peers   []rememberedPeer `json:"peers"`
}

// rememberedPeer is one peer of PeersFile.
type rememberedPeer struct {
	ID    string    `json:"id"`
	Addrs []string  `json:"addrs"`
	Seen  time.Time `json:"seen"`
	// Server is set for a peer that served the network's DHT when last
	// seen: reachable, so worth more at the next start than a client.
	Server bool `json:"dht_server,omitempty"`
}

// peerBook holds the peers of a network a node has been connected to and
// writes them to its data directory.
type peerBook struct {
	path    string
	network string
	self    peer.ID

	mu    sync.Mutex
	peers []rememberedPeer // ordered by rank (better first), at most maxRememberedPeers
	dirty bool
	next  int // where the next attempt to join starts in peers
}

// loadPeerBook reads the peers remembered in dir for network. A missing file
// is an empty book; a damaged one or one of another network gives an empty
// book and an error that says so, for the caller to log: the file is a
// cache, rewritten at the next save.
func loadPeerBook(dir, network string, self peer.ID) (*peerBook, error) {
	b := &peerBook{path: filepath.Join(dir, PeersFile), network: network, self: self}
	data, err := readBounded(b.path, maxPeersFileBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return b, nil
	} else if err != nil {
		return b, fmt.Errorf("read remembered peers: %w", err)
	}
	var body peersFileBody
	if err := json.Unmarshal(data, &body); err != nil {
		return b, fmt.Errorf("remembered peers in %s are damaged, ignored: %w", b.path, err)
	}
	if body.Network != network {
		return b, fmt.Errorf("remembered peers in %s are of network %q, not %q: ignored", b.path, body.Network, network)
	}
	for _, rp := range body.Peers {
		id, err := peer.Decode(rp.ID)
		if err != nil || id == self {
			continue
		}
		var addrs []ma.Multiaddr
		for _, s := range rp.Addrs {
			if a, err := ma.NewMultiaddr(s); err == nil {
				addrs = append(addrs, a)
			}
		}
		b.add(id, addrs, rp.Seen, rp.Server)
	}
	b.dirty = false
	return b, nil
}

// readBounded reads the file at path, refusing one larger than max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, nil
}

// saw records that peer id was seen at time at, listening on addrs.
func (b *peerBook) saw(id peer.ID, addrs []ma.Multiaddr, at time.Time, server bool) {
	if id == b.self {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.add(id, addrs, at, server)
}

// sawAgain records that a peer the book holds was seen at time at, on the
// addresses known, and reports whether the book holds it.
func (b *peerBook) sawAgain(id peer.ID, at time.Time, server bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !slices.ContainsFunc(b.peers, func(rp rememberedPeer) bool { return rp.ID == id.String() }) {
		return false
	}
	b.add(id, nil, at, server)
	return true
}

func (b *peerBook) add(id peer.ID, addrs []ma.Multiaddr, at time.Time, server bool) {
	kept := rankAddrs(addrs)
	i := slices.IndexFunc(b.peers, func(rp rememberedPeer) bool { return rp.ID == id.String() })
	if i >= 0 {
		if len(kept) == 0 {
			kept = b.peers[i].Addrs
		}
		b.peers = slices.Delete(b.peers, i, i+1)
	}
	if len(kept) == 0 {
		return // nothing to dial it at
	}
	b.peers = append(b.peers, rememberedPeer{ID: id.String(), Addrs: kept, Seen: at.UTC(), Server: server})
	slices.SortStableFunc(b.peers, func(x, y rememberedPeer) int {
		if x.Server != y.Server {
			if x.Server {
				return -1
			}
			return 1
		}
		return y.Seen.Compare(x.Seen)
	})
	if len(b.peers) > maxRememberedPeers {
		b.peers = b.peers[:maxRememberedPeers]
	}
	b.dirty = true
}

// rankAddrs returns the dialable addresses of addrs as strings, public ones
// first, at most maxRememberedAddrs.
func rankAddrs(addrs []ma.Multiaddr) []string {
	rank := func(a ma.Multiaddr) int {
		switch {
		case manet.IsPublicAddr(a):
			return 0
		case manet.IsIPLoopback(a):
			return 2
		}
		return 1
	}
	sorted := slices.Clone(addrs)
	slices.SortStableFunc(sorted, func(x, y ma.Multiaddr) int { return cmp.Compare(rank(x), rank(y)) })
	var out []string
	for _, a := range sorted {
		if len(out) == maxRememberedAddrs {
			break
		}
		if manet.IsIPUnspecified(a) {
			continue
		}
		if s := a.String(); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// size is how many peers the book holds.
func (b *peerBook) size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.peers)
}

// nextTry returns the next n remembered peers to join through, going round
// the list from the best: each attempt to join dials a few, not all.
func (b *peerBook) nextTry(n int) []peer.AddrInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = min(n, len(b.peers))
	out := make([]peer.AddrInfo, 0, n)
	for range n {
		b.next %= len(b.peers)
		if ai, ok := b.peers[b.next].addrInfo(); ok {
			out = append(out, ai)
		}
		b.next++
	}
	return out
}

func (rp rememberedPeer) addrInfo() (peer.AddrInfo, bool) {
	id, err := peer.Decode(rp.ID)
	if err != nil {
		return peer.AddrInfo{}, false
	}
	ai := peer.AddrInfo{ID: id}
	for _, s := range rp.Addrs {
		if a, err := ma.NewMultiaddr(s); err == nil {
			ai.Addrs = append(ai.Addrs, a)
		}
	}
	return ai, len(ai.Addrs) > 0
}

// save writes the book if it changed since the last save, whole or not at
// all.
func (b *peerBook) save() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.dirty {
		return nil
	}
	data, err := json.MarshalIndent(peersFileBody{Network: b.network, Peers: b.peers}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode remembered peers: %w", err)
	}
	if err := secretfile.Write(b.path, append(data, '\n')); err != nil {
		return fmt.Errorf("remember peers: %w", err)
	}
	b.dirty = false
	return nil
}

// peerRecorder fills a peerBook from a host: every peer identified as
// speaking the network's store protocol, and, at each save, every such peer
// still connected (seen again).
type peerRecorder struct {
	book  *peerBook
	host  host.Host
	store protocol.ID // only peers of the network speak it
	kad   protocol.ID // only the network's DHT servers speak it
	log   *slog.Logger
}

func newPeerRecorder(book *peerBook, h host.Host, network string, log *slog.Logger) *peerRecorder {
	return &peerRecorder{book: book, host: h, store: p2p.StoreProtocol(network),
		kad: p2p.KadProtocol(network), log: log}
}

// run records peers until ctx is done, writing the book every
// peersSaveInterval and once more before it returns.
func (r *peerRecorder) run(ctx context.Context, sub event.Subscription) {
	defer sub.Close()
	events := sub.Out()
	// Peers identified before the subscription are connected already.
	r.sweep()
	tick := time.NewTicker(peersSaveInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			r.sweep()
			r.save()
			return
		case <-tick.C:
			r.sweep()
			r.save()
		case e, ok := <-events:
			if !ok {
				events = nil // closed: the sweeps at each save go on
				continue
			}
			ev := e.(event.EvtPeerIdentificationCompleted)
			if slices.Contains(ev.Protocols, r.store) {
				r.book.saw(ev.Peer, ev.ListenAddrs, time.Now(), slices.Contains(ev.Protocols, r.kad))
			}
		}
	}
}

// sweep marks the connected peers of the network seen now. The addresses
// a peer announced when identified are kept; the peerstore's, which may
// hold addresses others observed, serve only for a peer identified before
// the recorder subscribed.
func (r *peerRecorder) sweep() {
	ps := r.host.Peerstore()
	now := time.Now()
	for _, p := range r.host.Network().Peers() {
		if r.host.Network().Connectedness(p) != network.Connected {
			continue
		}
		protos, _ := ps.SupportsProtocols(p, r.store, r.kad)
		if !slices.Contains(protos, r.store) {
			continue
		}
		server := slices.Contains(protos, r.kad)
		if !r.book.sawAgain(p, now, server) {
			r.book.saw(p, ps.Addrs(p), now, server)
		}
	}
}

func (r *peerRecorder) save() {
	if err := r.book.save(); err != nil {
		r.log.Warn("remembered peers not written", "err", err)
	}
}
