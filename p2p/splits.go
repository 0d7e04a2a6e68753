package p2p

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
)

// MaxSplitRecords bounds the split records a node keeps.
const MaxSplitRecords = 10_000

// splitBook holds the split records of the terms this node knows are
// split (docs/split-keys.md): it places, holds, repairs and evicts their
// posts by the nodes of their tries (Service.keysOf), and, as an owner of
// a root, its count answers carry the root's record. Until owners split
// keys themselves (step 3b) a record is only set by SetSplit.
type splitBook struct {
	mu      sync.RWMutex
	records map[string]keyspace.Split
	// n is len(records), read without the lock: most nodes know no split,
	// and every key of every post they hold is looked up here.
	n atomic.Int64
	// settled is when this node, as an owner, finished handing a root's
	// posts down (inGrace).
	settled map[string]time.Time
	// handedDown is when this node learned that a root's hand-down was
	// done, by a record with no residual (rootsInGrace), at most
	// maxSplitPending of them.
	handedDown map[string]time.Time
	// pending are the roots whose records are being looked up
	// (learnSplit), at most maxSplitLearners at once through learners.
	pending  map[string]bool
	learners chan struct{}
	// heard are the roots named by trie keys of posts sent to this node,
	// when, at most maxSplitPending of them (keepsBack).
	heard map[string]time.Time
	// tried are the roots this node last looked the records up of, when:
	// those it owns and was asked the count of with nothing under them
	// (learnSplitIfOwned), and those an owner named split in answer to a
	// write (learnSplitsNow); at most maxSplitPending of them.
	tried map[string]time.Time
	// relearned are the roots of the growing month's nodes this node
	// holds, when it last looked their records up (relearnSplit), at
	// most maxSplitPending of them.
	relearned map[string]time.Time
}

// hear records that a trie key of root was sent to this node at.
func (b *splitBook) hear(root string, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	stamp(&b.heard, root, at)
}

// stamp sets (*m)[key] to at, in a map of at most maxSplitPending keys: a
// new key makes room by forgetting those older than heardWindow, and is
// not kept when there is none. It reports whether key is kept.
func stamp(m *map[string]time.Time, key string, at time.Time) bool {
	if *m == nil {
		*m = map[string]time.Time{}
	}
	if _, ok := (*m)[key]; !ok && len(*m) >= maxSplitPending {
		for k, t := range *m {
			if at.Sub(t) >= heardWindow {
				delete(*m, k)
			}
		}
		if len(*m) >= maxSplitPending {
			return false
		}
	}
	(*m)[key] = at
	return true
}

// sameShape reports whether a and b put every post under the same nodes
// (keyspace.Split.NodesOf): they differ in counts alone.
func sameShape(a, b keyspace.Split) bool {
	if (a.Residual > 0) != (b.Residual > 0) || len(a.Buckets) != len(b.Buckets) {
		return false
	}
	for i := range a.Buckets {
		x, y := a.Buckets[i], b.Buckets[i]
		if x.Month != y.Month || x.Depth != y.Depth || x.Moving != y.Moving {
			return false
		}
	}
	return true
}

// handedOff reports whether b ends a hand-off a was in the middle of: the
// root's, or a bucket's move to a deeper depth.
func handedOff(a, b keyspace.Split) bool {
	if a.Residual > 0 && b.Residual == 0 {
		return true
	}
	for _, x := range a.Buckets {
		if !x.Moving {
			continue
		}
		if y, _, found := b.Bucket(x.Month); found && !y.Moving {
			return true
		}
	}
	return false
}

// all is a copy of every record.
func (b *splitBook) all() map[string]keyspace.Split {
	if b.n.Load() == 0 {
		return nil
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	return maps.Clone(b.records)
}

// settle records that this node finished handing root's posts down at.
func (b *splitBook) settle(root string, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.settled == nil {
		b.settled = map[string]time.Time{}
	}
	b.settled[root] = at
}

func (b *splitBook) get(key string) (keyspace.Split, bool) {
	if b.n.Load() == 0 {
		return keyspace.Split{}, false
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	sp, ok := b.records[key]
	return sp, ok
}

// SplitRecord is the split record this node keeps of root, if it knows
// root is split.
func (s *Service) SplitRecord(root string) (keyspace.Split, bool) { return s.splits.get(root) }

// keysOf is every key this node places and holds p under: keyspace.Keys,
// with each root of a term it knows is split replaced by the nodes of the
// term's trie that hold p.
func (s *Service) keysOf(p *post.Post) []string {
	return keyspace.KeysWith(p, s.splitOf())
}

// splitOf is the split book's lookup, nil while it is empty.
func (s *Service) splitOf() func(string) (keyspace.Split, bool) {
	if s.splits.n.Load() == 0 {
		return nil
	}
	return s.splits.get
}

// SetSplit records how root's postings are split. From then on this node
// places, holds, repairs and evicts the posts of root's term by the nodes
// of its trie that hold them (keyspace.Split.NodesOf): its holdings move
// the posts it holds from root to those nodes at once, and repair hands
// them to the nodes' owners. As an owner of root, its count answers carry
// the record and count the whole trie. root must be the whole key of a
// term that protocol version 1 does not shard.
func (s *Service) SetSplit(ctx context.Context, root string, sp keyspace.Split) error {
	k, err := keyspace.Parse(root)
	if err != nil {
		return fmt.Errorf("split record: %w", err)
	}
	if n, ok := k.Node(); !ok || n != n.Root() || k.Class != keyspace.ClassTerm {
		return fmt.Errorf("split record: %s is not the root of a term's trie", root)
	}
	if err := sp.Check(); err != nil {
		return err
	}
	b := &s.splits
	b.mu.RLock()
	_, known := b.records[root]
	full := len(b.records) >= MaxSplitRecords
	b.mu.RUnlock()
	if !known && full {
		return fmt.Errorf("split record of %s: %d records kept already", root, MaxSplitRecords)
	}
	was, _ := b.get(root)
	if known && handedOff(was, sp) {
		// The nodes this node held the posts under beside their new ones
		// are asked by planners that hold the record before for a while.
		b.settle(root, time.Now())
	}
	if sp.Residual == 0 && (!known || was.Residual > 0) {
		// So is the root, by planners that still hold a record of the
		// hand-down: this node's new posts of the term go there too
		// meanwhile (rootsInGrace).
		b.mu.Lock()
		stamp(&b.handedDown, root, time.Now())
		b.mu.Unlock()
	}
	if known && sameShape(was, sp) {
		// Counts alone changed: no post changes keys.
		b.mu.Lock()
		b.records[root] = sp
		b.mu.Unlock()
		return nil
	}
	// The posts of the term move between keys in the holdings as the
	// record changes, while no post is stored or removed.
	err = s.store.Paused(func() error {
		var posts []*post.Post
		if err := s.store.PostsWithTerm(ctx, k.Field(), k.Value, func(p *post.Post) error {
			posts = append(posts, p)
			return nil
		}); err != nil {
			return fmt.Errorf("split record of %s: list the term's posts: %w", root, err)
		}
		s.hold.Rekey(posts, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.records == nil {
				b.records = map[string]keyspace.Split{}
			}
			b.records[root] = sp
			b.n.Store(int64(len(b.records)))
		})
		return nil
	})
	if err != nil {
		return err
	}
	s.TriggerRepair()
	return nil
}

// rootsInGrace are the roots of the split terms among keys, a post's keys
// by this node's records, that keys lack and that this node learned were
// handed down less than SplitGrace ago: planners that still hold a record
// of the hand-down ask the root alone, so a post written meanwhile goes to
// the root's owners as well as to its leaf.
func (s *Service) rootsInGrace(keys []string, now time.Time) []string {
	b := &s.splits
	b.mu.RLock()
	defer b.mu.RUnlock()
	if len(b.handedDown) == 0 {
		return nil
	}
	var out []string
	for _, k := range keys {
		n, err := keyspace.ParseNode(k)
		if err != nil || n.Month == "" {
			continue
		}
		root := n.Root().String()
		if at, ok := b.handedDown[root]; ok && now.Sub(at) < s.cfg.SplitGrace && !slices.Contains(keys, root) && !slices.Contains(out, root) {
			out = append(out, root)
		}
	}
	return out
}
