// Package live keeps standing searches: at a key's owners, the searches
// other nodes subscribed there, each matched against every new post the
// owner stores (Registry); at the subscriber, the streams to the owners of
// a query's routed keys, whose pushes it verifies, deduplicates and
// delivers in time order (Follow). The network carries the requests and
// pushes; package p2p holds that transport.
package live

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
)

// Bounds of the standing searches an owner keeps.
const (
	// MaxPerPeer bounds the standing searches one peer keeps at an owner.
	MaxPerPeer = 32
	// MaxTotal bounds the standing searches an owner keeps in all.
	MaxTotal = 4096
	// Lease is how long an owner keeps a standing search. The subscriber
	// renews it by subscribing again, at the key's owners of that time,
	// so a search follows its key when ownership moves.
	Lease = 5 * time.Minute
	// PushRate and PushBurst bound the pushes of one standing search per
	// second: a search that matches a flood loses the excess, counted.
	PushRate  = 20
	PushBurst = 100
	// QueueLen bounds the pushes waiting for one subscriber's stream.
	QueueLen = 64
	// Heartbeat is how often an owner writes to an idle subscription, so
	// that each side notices the other is gone.
	Heartbeat = 20 * time.Second
	// recentPosts bounds the post IDs an owner remembers having pushed, so
	// that a post it is handed again (repair, a second placement round)
	// is not pushed twice.
	recentPosts = 8192
)

// ErrFull is returned when an owner keeps as many standing searches as it
// allows, in all or for the peer.
var ErrFull = errors.New("too many standing searches")

// Sub is one standing search at an owner.
type Sub struct {
	// Peer is the subscriber.
	Peer string
	// Key is the key the search is routed to.
	Key string
	// Pushes carries the encoded posts that match, for the stream to write.
	Pushes chan json.RawMessage

	expr    query.Expr
	limit   *rate.Limiter
	dropped atomic.Int64
}

// Dropped counts the matches this search lost to its push rate or a full
// queue.
func (s *Sub) Dropped() int64 { return s.dropped.Load() }

// Registry holds an owner's standing searches by key.
type Registry struct {
	mu      sync.Mutex
	byKey   map[string]map[*Sub]struct{}
	perPeer map[string]int
	total   int
	recent  map[string]struct{}
	order   []string // recent, oldest first
	// OnDrop, if set, is called for each match a search lost.
	OnDrop func()
	// KeysOf, if set, gives the keys a post is held under beside
	// keyspace.Keys: those of the nodes of split terms' tries, which
	// standing searches of a split term are kept under too. Set it before
	// the first Offer.
	KeysOf func(*post.Post) []string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byKey: map[string]map[*Sub]struct{}{}, perPeer: map[string]int{}, recent: map[string]struct{}{}}
}

// Add keeps a standing search of peer for expr under key, within the
// bounds; the caller removes it when its stream ends.
func (r *Registry) Add(peer, key string, expr query.Expr) (*Sub, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.total >= MaxTotal:
		return nil, fmt.Errorf("%w: this node keeps %d", ErrFull, MaxTotal)
	case r.perPeer[peer] >= MaxPerPeer:
		return nil, fmt.Errorf("%w: this node keeps %d for each peer", ErrFull, MaxPerPeer)
	}
	s := &Sub{Peer: peer, Key: key, Pushes: make(chan json.RawMessage, QueueLen), expr: expr, limit: rate.NewLimiter(PushRate, PushBurst)}
	if r.byKey[key] == nil {
		r.byKey[key] = map[*Sub]struct{}{}
	}
	r.byKey[key][s] = struct{}{}
	r.perPeer[peer]++
	r.total++
	return s, nil
}

// Remove forgets s.
func (r *Registry) Remove(s *Sub) {
	r.mu.Lock()
	defer r.mu.Unlock()
	subs := r.byKey[s.Key]
	if _, ok := subs[s]; !ok {
		return
	}
	delete(subs, s)
	if len(subs) == 0 {
		delete(r.byKey, s.Key)
	}
	if r.perPeer[s.Peer]--; r.perPeer[s.Peer] <= 0 {
		delete(r.perPeer, s.Peer)
	}
	r.total--
}

// Len returns the standing searches kept.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// Offer checks posts the owner has just stored against the standing
// searches of their keys and queues each post for every search it
// matches, once: a post offered again is skipped. It never blocks.
func (r *Registry) Offer(posts ...*post.Post) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.total == 0 {
		return
	}
	for _, p := range posts {
		if _, ok := r.recent[p.ID]; ok {
			continue
		}
		r.remember(p.ID)
		var raw json.RawMessage
		var analyzed *query.Analyzed
		keys := keyspace.Keys(p)
		if r.KeysOf != nil {
			for _, k := range r.KeysOf(p) {
				if !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
		}
		for _, k := range keys {
			for s := range r.byKey[k] {
				if analyzed == nil {
					a := query.Analyze(p) // once for all the searches
					analyzed = &a
				}
				if !analyzed.Matches(s.expr) {
					continue
				}
				if raw == nil {
					b, err := json.Marshal(p)
					if err != nil {
						return // cannot happen: a post encodes
					}
					raw = b
				}
				if !s.limit.Allow() {
					r.drop(s)
					continue
				}
				select {
				case s.Pushes <- raw:
				default:
					r.drop(s)
				}
			}
		}
	}
}

func (r *Registry) drop(s *Sub) {
	s.dropped.Add(1)
	if r.OnDrop != nil {
		r.OnDrop()
	}
}

func (r *Registry) remember(id string) {
	r.recent[id] = struct{}{}
	r.order = append(r.order, id)
	if len(r.order) > recentPosts {
		delete(r.recent, r.order[0])
		r.order = r.order[1:]
	}
}
