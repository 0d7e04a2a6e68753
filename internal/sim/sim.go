// Package sim runs murmur's network search, unchanged, over many simulated
// nodes in one process: each node has a real bleve index on disk holding
// exactly the posts of the keys it owns (the R nodes closest to the key by
// XOR distance, as p2p places them once settled), and a netsearch
// Coordinator whose Transport delivers each request to the owner's
// netsearch.Answer and counts the messages and bytes (JSON, as the search
// and stats protocols encode them).
//
// Links between nodes may delay and lose messages (Links), in real time.
// What it does not simulate yet: p2p's own placement, repair, eviction and
// DHT lookups (placement is computed, as if every write had reached every
// owner and the network had settled; churn's repair is a delay, see
// Churn). Nor does it split terms as they grow: with Options.SplitAt, the
// terms held by more posts are split as their owners would have split them
// once settled (Splits), and the root's owners send the record with their
// counts.
// It measures what a search costs in messages and bytes as the network
// grows, and whether it still finds what one index would.
package sim

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/cborwire"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// Replicas is R, the owners of each key, as p2p's default.
const Replicas = 3

// Node is one simulated node: its ID, its index and what it holds.
type Node struct {
	ID   peer.ID
	kbID []byte
	ix   *index.Index
	dir  string
	// held counts the posts under each key the node owns.
	held map[string]int
}

// Network is the simulated network. Its counters are safe for concurrent
// use; build it with New.
type Network struct {
	// mu guards the membership and what the nodes hold: churn changes them
	// between searches, while a coordinator may refresh in the background.
	mu    sync.RWMutex
	nodes []*Node
	byID  map[peer.ID]*Node
	dir   string
	// keyPosts are the posts placed under each key, which repair hands to
	// a key's new owners; holders the nodes alive that hold each key.
	keyPosts map[string][]*post.Post
	holders  map[string]map[*Node]bool
	churn    *churnState
	// splits are the split terms' records, by root key (Options.SplitAt).
	splits map[string]keyspace.Split
	// newest is the newest post's creation time.
	newest time.Time
	// Coordinator configures the queriers' coordinators (netsearch's
	// defaults when zero).
	Coordinator netsearch.Config
	// Links delay (and lose) the messages between nodes; none when zero.
	// Set it before searching.
	Links Links

	ownersMu sync.Mutex
	owners   map[string][]peer.ID
	keyIDs   map[string]kb.ID // each key of owners in the keyspace, hashed once

	placed atomic.Int64 // post copies stored, over all nodes and keys

	trafficMu sync.Mutex
	messages  int64
	byType    map[string]int64 // bytes by message type (Message*)
}

// The types of message the simulation counts bytes of (Network.TrafficByType).
const (
	MessageSearchRequest = "search_request"
	MessageWholeAnswer   = "whole_answer" // hits with their posts
	MessageDigest        = "digest"       // a digest of hits (IDs and sort values)
	MessageChecksum      = "checksum"     // a digest's checksum alone
	MessageCounts        = "counts"       // key counts asked and answered
	MessageSummary       = "summary"      // a node's collection figures asked and answered
)

// Progress reports how far New has come: what it is doing, and done of
// total.
type Progress func(stage string, done, total int)

// Options are a simulated network's settings beyond its nodes and posts.
type Options struct {
	// SplitAt splits each term that at least this many posts hold, as its
	// owners would have once settled (Splits); 0 splits none.
	SplitAt int
	// Progress reports how far building the network has come.
	Progress Progress
}

// New starts n nodes with identities drawn from seed, each with an index
// under dir, and places every post at the owners of each of its keys.
func New(ctx context.Context, dir string, n int, posts []*post.Post, seed uint64, opts Options) (*Network, error) {
	if n < 1 {
		return nil, fmt.Errorf("a network of %d nodes", n)
	}
	keys := seeded(seed, 1)
	ids := make([]peer.ID, n)
	for i := range ids {
		key, _, err := crypto.GenerateEd25519Key(keys)
		if err != nil {
			return nil, fmt.Errorf("node key: %w", err)
		}
		if ids[i], err = peer.IDFromPrivateKey(key); err != nil {
			return nil, fmt.Errorf("node ID: %w", err)
		}
	}
	return NewOf(ctx, dir, ids, posts, opts)
}

// NewOf is New with the nodes' identities given, in order: a simulation of
// a real network's nodes, to compare the two like for like.
func NewOf(ctx context.Context, dir string, ids []peer.ID, posts []*post.Post, opts Options) (*Network, error) {
	n := len(ids)
	if n < 1 {
		return nil, fmt.Errorf("a network of %d nodes", n)
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(string, int, int) {}
	}
	net := &Network{byID: map[peer.ID]*Node{}, byType: map[string]int64{}, owners: map[string][]peer.ID{}, keyIDs: map[string]kb.ID{}, dir: dir,
		keyPosts: map[string][]*post.Post{}, holders: map[string]map[*Node]bool{}, splits: Splits(posts, opts.SplitAt)}
	splitOf := func(root string) (keyspace.Split, bool) {
		sp, ok := net.splits[root]
		return sp, ok
	}
	for i, id := range ids {
		if net.byID[id] != nil {
			net.Close()
			return nil, fmt.Errorf("node %d's identity %s is node %d's too", i, id, slices.Index(ids, id))
		}
		ndDir := filepath.Join(dir, fmt.Sprintf("node-%04d", i))
		ix, err := index.Open(index.Config{Dir: ndDir, Logger: slog.New(slog.DiscardHandler), MinFreeBytes: -1})
		if err != nil {
			net.Close()
			return nil, fmt.Errorf("index of node %d: %w", i, err)
		}
		nd := &Node{ID: id, kbID: kb.ConvertPeerID(id), ix: ix, dir: ndDir, held: map[string]int{}}
		net.nodes = append(net.nodes, nd)
		net.byID[id] = nd
		if (i+1)%100 == 0 || i+1 == n {
			progress("nodes", i+1, n)
		}
	}
	at := map[*Node][]*post.Post{}
	for i, p := range posts {
		if p.CreatedAt.After(net.newest) {
			net.newest = p.CreatedAt
		}
		holders := map[*Node]bool{}
		for _, k := range keyspace.KeysWith(p, splitOf) {
			net.keyPosts[k] = append(net.keyPosts[k], p)
			if net.holders[k] == nil {
				net.holders[k] = map[*Node]bool{}
			}
			for _, o := range net.Owners(k) {
				nd := net.byID[o]
				nd.held[k]++
				holders[nd] = true
				net.holders[k][nd] = true
			}
		}
		for nd := range holders {
			at[nd] = append(at[nd], p)
			net.placed.Add(1)
		}
		if (i+1)%500 == 0 || i+1 == len(posts) {
			progress("placement", i+1, len(posts))
		}
	}
	done := 0
	for _, nd := range net.nodes {
		if ps := at[nd]; len(ps) > 0 {
			if _, err := nd.ix.Put(ctx, ps...); err != nil {
				net.Close()
				return nil, fmt.Errorf("store at %s: %w", nd.ID, err)
			}
		}
		done++
		if done%100 == 0 || done == n {
			progress("indexing", done, n)
		}
	}
	return net, nil
}

// Close closes every node's index.
func (net *Network) Close() {
	for _, nd := range net.nodes {
		nd.ix.Close()
	}
}

// Nodes returns the nodes alive, in the order they started.
func (net *Network) Nodes() []*Node {
	net.mu.RLock()
	defer net.mu.RUnlock()
	return slices.Clone(net.nodes)
}

// Copies is how many post copies the nodes hold in all (a post held by a
// node under several keys counts once there).
func (net *Network) Copies() int64 { return net.placed.Load() }

// Traffic returns the messages and bytes of every request and answer so
// far.
func (net *Network) Traffic() (messages, bytes int64) {
	net.trafficMu.Lock()
	defer net.trafficMu.Unlock()
	for _, b := range net.byType {
		bytes += b
	}
	return net.messages, bytes
}

// Owners are the Replicas nodes closest to key by XOR distance, closest
// first, as a settled p2p network places it.
func (net *Network) Owners(key string) []peer.ID {
	net.mu.RLock()
	defer net.mu.RUnlock()
	return net.ownersLocked(key)
}

// ownersLocked is Owners, with net.mu held.
func (net *Network) ownersLocked(key string) []peer.ID {
	net.ownersMu.Lock()
	defer net.ownersMu.Unlock()
	if o, ok := net.owners[key]; ok {
		return o
	}
	target := net.keyIDs[key]
	if target == nil {
		target = kb.ConvertKey(key)
		net.keyIDs[key] = target
	}
	type cand struct {
		id   peer.ID
		dist []byte
	}
	best := make([]cand, 0, Replicas+1)
	for _, nd := range net.nodes {
		d := make([]byte, len(target))
		for i := range d {
			d[i] = nd.kbID[i] ^ target[i]
		}
		if len(best) == Replicas && bytes.Compare(d, best[Replicas-1].dist) >= 0 {
			continue
		}
		best = append(best, cand{nd.ID, d})
		sort.Slice(best, func(i, j int) bool { return bytes.Compare(best[i].dist, best[j].dist) < 0 })
		if len(best) > Replicas {
			best = best[:Replicas]
		}
	}
	out := make([]peer.ID, len(best))
	for i, c := range best {
		out[i] = c.id
	}
	net.owners[key] = out
	return out
}

// Transport is the network as one node sees it (netsearch.Transport).
func (net *Network) Transport(self peer.ID) netsearch.Transport {
	return transport{net: net, self: self}
}

type transport struct {
	net  *Network
	self peer.ID
}

var errUnknownPeer = errors.New("no such simulated node")

func (t transport) Self() peer.ID { return t.self }

func (t transport) Owners(_ context.Context, key string) ([]peer.ID, error) {
	return t.net.Owners(key), nil
}

// KnownOwners are key's owners, known without a lookup. What the planner
// asks of it is whether this node owns a key (netsearch's planCost), and a
// p2p node keeps the owners of the keys it holds known (repair looks them
// up), so a settled one knows as much.
func (t transport) KnownOwners(key string) ([]peer.ID, bool) {
	return t.net.Owners(key), true
}

func (t transport) Members() []peer.ID {
	t.net.mu.RLock()
	defer t.net.mu.RUnlock()
	out := make([]peer.ID, 0, len(t.net.nodes))
	for _, nd := range t.net.nodes {
		if nd.ID != t.self {
			out = append(out, nd.ID)
		}
	}
	return out
}

func (t transport) Known(p peer.ID) bool {
	t.net.mu.RLock()
	defer t.net.mu.RUnlock()
	return t.net.byID[p] != nil
}

// PriorOwners, while key settles under churn (SettlingKey), are those of
// its owners that hold it: those that held it before the change, or to
// which repair has handed it since. A p2p node tells them by the changes
// of membership it saw; the model knows what each node holds. An answer
// none of them gave then says partial, as p2p's does. Otherwise, and for
// a key with no post, every owner counts.
func (t transport) PriorOwners(_ context.Context, key string) ([]peer.ID, bool) {
	if !t.SettlingKey(context.Background(), key) {
		return nil, false
	}
	owners := t.net.Owners(key)
	t.net.mu.RLock()
	defer t.net.mu.RUnlock()
	if len(t.net.keyPosts[key]) == 0 {
		return nil, false
	}
	var prior []peer.ID
	for _, o := range owners {
		if nd := t.net.byID[o]; nd != nil && t.net.holders[key][nd] {
			prior = append(prior, o)
		}
	}
	return prior, true
}

// SettlingKey is true while churn's repair may still be handing some keys
// to new owners, for every key alike as p2p's is after its view of the
// membership changed, or with
// Churn.SettleByKey for key alone: while repair may still be handing it to
// a new owner.
func (t transport) SettlingKey(_ context.Context, key string) bool {
	t.net.mu.RLock()
	defer t.net.mu.RUnlock()
	c := t.net.churn
	if c == nil {
		return false
	}
	if c.model.SettleByKey {
		return c.now < c.keySettleUntil[key]
	}
	return c.now < c.settleUntil
}

func (t transport) Replicas() int { return Replicas }

// Latency is the link's round trip, as p2p reports the one it measured.
func (t transport) Latency(p peer.ID) time.Duration  { return t.net.Links.RTT(t.self, p) }
func (t transport) CountRefused(string, string, int) {}
func (t transport) node(p peer.ID) (*Node, error) {
	nd := t.net.byID[p]
	if nd == nil {
		return nil, fmt.Errorf("%w: %s", errUnknownPeer, p)
	}
	return nd, nil
}

// count records one request and its answer, of the types given, unless
// the node asked itself.
func (t transport) count(p peer.ID, req, resp any, reqType, respType string) {
	if p == t.self {
		return
	}
	reqBytes, respBytes := encodedLen(req), encodedLen(resp)
	t.net.trafficMu.Lock()
	defer t.net.trafficMu.Unlock()
	t.net.messages += 2
	t.net.byType[reqType] += reqBytes
	t.net.byType[respType] += respBytes
}

// encodedLen is the length of m as the search and stats protocols encode
// it (CBOR, package cborwire).
func encodedLen(m any) int64 {
	b, err := cborwire.Marshal(m)
	if err != nil {
		return 0
	}
	return int64(len(b))
}

// TrafficByType returns the bytes of every message so far, by type
// (Message*).
func (net *Network) TrafficByType() map[string]int64 {
	net.trafficMu.Lock()
	defer net.trafficMu.Unlock()
	return maps.Clone(net.byType)
}

func (t transport) Search(ctx context.Context, p peer.ID, req *netsearch.Request) (*netsearch.Response, error) {
	if err := t.net.Links.wait(ctx, t.self, p); err != nil {
		return nil, err
	}
	t.net.mu.RLock()
	defer t.net.mu.RUnlock()
	nd, err := t.node(p)
	if err != nil {
		return nil, err
	}
	resp, err := netsearch.Answer(ctx, nd.ix, req)
	if err != nil {
		return nil, err
	}
	if resp.Refused == "" {
		resp.SetCounts(req, func(k string) int { return nd.held[k] })
	}
	answer := MessageWholeAnswer
	switch {
	case req.DigestSum:
		answer = MessageChecksum
	case req.Digest:
		answer = MessageDigest
	}
	t.count(p, req, resp, MessageSearchRequest, answer)
	return resp, nil
}

func (t transport) Counts(ctx context.Context, p peer.ID, keys []string) ([]netsearch.KeyCount, error) {
	if err := t.net.Links.wait(ctx, t.self, p); err != nil {
		return nil, err
	}
	t.net.mu.RLock()
	defer t.net.mu.RUnlock()
	nd, err := t.node(p)
	if err != nil {
		return nil, err
	}
	counts := make([]int, len(keys))
	out := make([]netsearch.KeyCount, len(keys))
	var records []*keyspace.Split
	for i, k := range keys {
		counts[i] = nd.held[k]
		out[i].Count = counts[i]
		// A split root's owners send its record, and count its whole
		// trie's postings, as p2p's do.
		if sp, ok := t.net.splits[k]; ok && slices.Contains(t.net.ownersLocked(k), p) {
			if records == nil {
				records = make([]*keyspace.Split, len(keys))
			}
			records[i] = &sp
			out[i].Split = &sp
			counts[i], out[i].Count = sp.Total(), sp.Total()
		}
	}
	// As the wire's counts and records (p2p's stats answer).
	t.count(p, keys, statsAnswer{Counts: counts, Splits: records}, MessageCounts, MessageCounts)
	return out, nil
}

// statsAnswer is the part of p2p's stats answer a count request gets, as
// the wire encodes it.
type statsAnswer struct {
	Counts []int             `cbor:"1,keyasint,omitempty"`
	Splits []*keyspace.Split `cbor:"5,keyasint,omitempty"`
}

// Summary reports a node's figures per owner group, as p2p's does.
func (t transport) Summary(ctx context.Context, p peer.ID) (*netsearch.Summary, error) {
	if err := t.net.Links.wait(ctx, t.self, p); err != nil {
		return nil, err
	}
	t.net.mu.RLock()
	defer t.net.mu.RUnlock()
	nd, err := t.node(p)
	if err != nil {
		return nil, err
	}
	sum := netsearch.SummaryOf(p, maps.All(nd.held), func(key string) ([]peer.ID, bool) { return t.net.ownersLocked(key), true })
	t.count(p, struct{}{}, &sum, MessageSummary, MessageSummary)
	return &sum, nil
}

// seeded is a stream of pseudo-random bytes for keys, fixed by seed and
// stream: a simulation's identities repeat with its seed. Not for real keys.
func seeded(seed, stream uint64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:8], seed)
	binary.LittleEndian.PutUint64(s[8:16], stream)
	return rand.NewChaCha8(s)
}

// Splits are the records of the terms that at least splitAt of posts hold
// (none when splitAt is 0), as the owners of each term's root would have
// split it once settled (p2p's splitter): a bucket a month of its posts,
// each as many bits deep as its count is SplitAt doubled (a bucket moves
// one bit deeper once its leaves hold splitAt postings each on average), up
// to keyspace.MaxSplitDepth, every hand-down done. Stop words split as any
// term (protocol 4); a term of more than keyspace.MaxBuckets months stays whole
// (its owners would hand its oldest months down over time).
func Splits(posts []*post.Post, splitAt int) map[string]keyspace.Split {
	if splitAt <= 0 {
		return nil
	}
	months := map[string]map[string]int{} // root key -> month -> posts
	for _, p := range posts {
		for _, k := range keyspace.Keys(p) {
			pk, err := keyspace.Parse(k)
			if err != nil || pk.Class != keyspace.ClassTerm || pk.Shard != "" {
				continue
			}
			if months[k] == nil {
				months[k] = map[string]int{}
			}
			months[k][keyspace.MonthOf(p.CreatedAt)]++
		}
	}
	out := map[string]keyspace.Split{}
	for root, counts := range months {
		total := 0
		for _, c := range counts {
			total += c
		}
		if total < splitAt || len(counts) > keyspace.MaxBuckets {
			continue
		}
		var sp keyspace.Split
		for _, m := range slices.Sorted(maps.Keys(counts)) {
			depth := 0
			for depth < keyspace.MaxSplitDepth && counts[m] >= splitAt<<depth {
				depth++
			}
			sp.Buckets = append(sp.Buckets, keyspace.Bucket{Month: m, Count: counts[m], Depth: depth})
		}
		if sp.Check() == nil {
			out[root] = sp
		}
	}
	return out
}
