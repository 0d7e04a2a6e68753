package p2p

import (
	"context"
	"encoding/hex"
	"slices"
	"sync"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
)

// Holdings keeps, for every key of every post the node holds, how many posts
// it holds under that key and the XOR of their IDs. Two nodes that hold the
// same posts under a key have the same digest, so repair compares 32 bytes
// per key instead of posting lists. It is updated as the index stores and
// deletes posts, and rebuilt from the index at start. Safe for concurrent use.
type Holdings struct {
	mu    sync.Mutex
	keys  map[string]*holding
	posts int
	// version counts changes, so repair knows whether a key moved since it
	// last synced it.
	version uint64
	// keysOf gives the keys a post is held under (keyspace.Keys until the
	// service sets its own, which follows the splits it knows), and
	// keysGen counts the changes of what it gives (Rekey).
	keysOf  func(*post.Post) []string
	keysGen uint64
}

type holding struct {
	count   int
	digest  [32]byte
	changed uint64 // Holdings.version at the last change
}

// NewHoldings returns empty holdings.
func NewHoldings() *Holdings {
	return &Holdings{keys: map[string]*holding{}, keysOf: keyspace.Keys}
}

// setKeysOf sets how a post's keys are found: the service's own function,
// which follows the splits it knows.
func (h *Holdings) setKeysOf(fn func(*post.Post) []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.keysOf = fn
	h.keysGen++
}

// Rekey calls change, which changes the keys that keysOf gives some of
// posts, and moves each of posts from the keys it had before to those it
// has after, in one step: no Add or Remove comes between. The caller
// passes every held post whose keys change, and holds the store's writes
// (Store.Paused) so that none is stored or removed meanwhile.
func (h *Holdings) Rekey(posts []*post.Post, change func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	before := make([][]string, len(posts))
	for i, p := range posts {
		before[i] = h.keysOf(p)
	}
	change()
	h.keysGen++
	h.version++
	for i, p := range posts {
		var id [32]byte
		if _, err := hex.Decode(id[:], []byte(p.ID)); err != nil {
			continue
		}
		after := h.keysOf(p)
		for _, k := range before[i] {
			if !slices.Contains(after, k) {
				h.change(k, id, -1)
			}
		}
		for _, k := range after {
			if !slices.Contains(before[i], k) {
				h.change(k, id, +1)
			}
		}
	}
}

// change moves one post's count under key by sign; h.mu is held.
func (h *Holdings) change(k string, id [32]byte, sign int) {
	e := h.keys[k]
	if e == nil {
		e = &holding{}
		h.keys[k] = e
	}
	e.count += sign
	for i := range e.digest {
		e.digest[i] ^= id[i]
	}
	e.changed = h.version
	if e.count <= 0 {
		delete(h.keys, k)
	}
}

// Add records newly stored posts under each of their keys.
func (h *Holdings) Add(posts []*post.Post) { h.apply(posts, +1) }

// Remove records a post that a tombstone removed.
func (h *Holdings) Remove(p *post.Post) { h.apply([]*post.Post{p}, -1) }

func (h *Holdings) apply(posts []*post.Post, sign int) {
	type keyed struct {
		id   [32]byte
		keys []string
	}
	// Analysis runs outside the lock, with the keys function of the
	// moment; a Rekey meanwhile makes it run again inside.
	h.mu.Lock()
	keysOf, gen := h.keysOf, h.keysGen
	h.mu.Unlock()
	work := make([]keyed, 0, len(posts))
	at := make([]*post.Post, 0, len(posts))
	for _, p := range posts {
		var id [32]byte
		if _, err := hex.Decode(id[:], []byte(p.ID)); err != nil {
			continue // not a verified post
		}
		work = append(work, keyed{id: id, keys: keysOf(p)})
		at = append(at, p)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.keysGen != gen {
		for i := range work {
			work[i].keys = h.keysOf(at[i])
		}
	}
	h.version++
	for _, w := range work {
		h.posts += sign
		for _, k := range w.keys {
			h.change(k, w.id, sign)
		}
	}
}

// Load rebuilds the holdings from every post walk yields.
func (h *Holdings) Load(ctx context.Context, walk func(context.Context, func(*post.Post) error) error) error {
	const batch = 1000
	buf := make([]*post.Post, 0, batch)
	err := walk(ctx, func(p *post.Post) error {
		buf = append(buf, p)
		if len(buf) == batch {
			h.Add(buf)
			buf = buf[:0]
		}
		return nil
	})
	h.Add(buf)
	return err
}

// Digest returns the count and digest of a key; zero when nothing is held.
func (h *Holdings) Digest(key string) (int, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.keys[key]
	if e == nil {
		return 0, zeroDigest
	}
	return e.count, hex.EncodeToString(e.digest[:])
}

var zeroDigest = hex.EncodeToString(make([]byte, 32))

// Count returns how many posts are held under key.
func (h *Holdings) Count(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.keys[key]; e != nil {
		return e.count
	}
	return 0
}

// Version counts the changes of the holdings so far.
func (h *Holdings) Version() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.version
}

// Len returns the number of keys with at least one post.
func (h *Holdings) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.keys)
}

// heldKey is a key with its digest, as repair sees it.
type heldKey struct {
	key     string
	count   int
	digest  string
	changed uint64
}

// snapshot returns every key with its state.
func (h *Holdings) snapshot() []heldKey {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]heldKey, 0, len(h.keys))
	for k, e := range h.keys {
		out = append(out, heldKey{key: k, count: e.count, digest: hex.EncodeToString(e.digest[:]), changed: e.changed})
	}
	return out
}
