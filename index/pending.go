package index

import (
	"container/list"
	"sync"
	"time"

	"github.com/murmur-p2p/murmur/post"
)

// Bounds of the tombstones that wait for their post. A tombstone deletes
// only a post by its own author, and a node that does not hold the post
// cannot check that; so it keeps the tombstone aside, applies it if the
// post arrives with the same author, and forgets it otherwise. These keep
// what anyone can make a node hold that way small.
const (
	// MaxPendingTombstones bounds the tombstones waiting in all; when it is
	// reached, the oldest is forgotten.
	MaxPendingTombstones = 10_000
	// MaxPendingPerAuthor bounds the tombstones one author has waiting;
	// more from that author are refused until some are applied or expire.
	MaxPendingPerAuthor = 1_000
	// PendingTombstoneAge is how long a tombstone waits for its post.
	PendingTombstoneAge = time.Hour
)

// pendingTombstones holds tombstones of posts the index does not hold,
// oldest first. Safe for concurrent use.
type pendingTombstones struct {
	mu        sync.Mutex
	byTarget  map[string]*list.Element // target -> element of order
	order     *list.List               // of *pendingTombstone, oldest first
	perAuthor map[string]int
}

type pendingTombstone struct {
	t     *post.Tombstone
	added time.Time
}

func newPendingTombstones() *pendingTombstones {
	return &pendingTombstones{byTarget: map[string]*list.Element{}, order: list.New(), perAuthor: map[string]int{}}
}

// add keeps t until its post arrives; it reports false when t's author
// already has MaxPendingPerAuthor tombstones waiting. A second tombstone
// for the same target replaces the first only if it comes from another
// author: the post's author is unknown until the post arrives, so one
// from each author could be the real one, but only the last is kept.
func (pt *pendingTombstones) add(t *post.Tombstone, now time.Time) bool {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	pt.expire(now)
	if e, ok := pt.byTarget[t.Target]; ok {
		if e.Value.(*pendingTombstone).t.Author == t.Author {
			return true
		}
		pt.remove(e)
	}
	if pt.perAuthor[t.Author] >= MaxPendingPerAuthor {
		return false
	}
	for pt.order.Len() >= MaxPendingTombstones {
		pt.remove(pt.order.Front())
	}
	pt.byTarget[t.Target] = pt.order.PushBack(&pendingTombstone{t: t, added: now})
	pt.perAuthor[t.Author]++
	return true
}

// take removes and returns the tombstone waiting for target, if any.
func (pt *pendingTombstones) take(target string, now time.Time) *post.Tombstone {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	pt.expire(now)
	e, ok := pt.byTarget[target]
	if !ok {
		return nil
	}
	pt.remove(e)
	return e.Value.(*pendingTombstone).t
}

// len is the number of tombstones waiting.
func (pt *pendingTombstones) len() int {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.order.Len()
}

func (pt *pendingTombstones) expire(now time.Time) {
	for e := pt.order.Front(); e != nil && now.Sub(e.Value.(*pendingTombstone).added) > PendingTombstoneAge; e = pt.order.Front() {
		pt.remove(e)
	}
}

func (pt *pendingTombstones) remove(e *list.Element) {
	t := pt.order.Remove(e).(*pendingTombstone).t
	delete(pt.byTarget, t.Target)
	if pt.perAuthor[t.Author]--; pt.perAuthor[t.Author] <= 0 {
		delete(pt.perAuthor, t.Author)
	}
}
