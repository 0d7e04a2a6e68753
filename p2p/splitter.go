package p2p

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// Owners split the keys that grow (docs/split-keys.md, step 3b). After
// each repair pass, an owner of a term's root
//   - splits it once it holds Config.SplitAt posts under it: a bucket a
//     month of its posts, with all of them as the root's residual, so
//     that planners ask the root alone while repair hands the posts down
//     to their buckets' owners;
//   - clears the residual once a pass has synced every bucket it holds
//     with its owners, and keeps the posts Config.SplitGrace longer for
//     planners that still ask the root;
//   - lists the month that starts (a month after the record's is a
//     bucket already, NodesOf), hands down the posts of months before the
//     record's that reach the root, and refreshes the buckets' counts
//     from their owners, which its count answers carry.
// Every other node learns a record from the root's owners, believed once
// at least half of those that answer send one, as planners do: when it is
// sent a post under a node of a trie it knows nothing of, and again while
// the root hands down. A trie key alone proves nothing: one message could
// otherwise make a node hand a term's posts away.

// DefaultSplitGrace is how long an owner keeps a split term's posts after
// handing them all down: two lifetimes of a planner's key counts, which
// carry the record (netsearch.CountTTL).
const DefaultSplitGrace = 2 * netsearch.CountTTL

// Bounds of learning split records.
const (
	// maxSplitLearners bounds the lookups of records at once.
	maxSplitLearners = 4
	// maxSplitPending bounds the roots waiting to be looked up.
	maxSplitPending = 1024
)

// tendSplits runs after a repair pass that synced every key it tried.
func (s *Service) tendSplits(ctx context.Context) {
	now := time.Now()
	snap := s.hold.snapshot()
	leavesOf := map[string][]string{} // root -> the trie keys held
	for _, hk := range snap {
		if k, err := keyspace.Parse(hk.key); err == nil && k.Month != "" {
			root := keyspace.RootNode(k.Class, k.Value).String()
			leavesOf[root] = append(leavesOf[root], hk.key)
		}
	}
	for _, hk := range snap {
		k, err := keyspace.Parse(hk.key)
		if err != nil || k.Class != keyspace.ClassTerm || k.Shard != "" || k.Month != "" || !s.ownsCached(hk.key) {
			continue
		}
		sp, split := s.splits.get(hk.key)
		switch {
		case !split && s.cfg.SplitAt > 0 && hk.count >= s.cfg.SplitAt:
			s.splitRoot(ctx, k, hk.key, keyspace.Split{}, hk.count)
		case split && sp.Residual == 0 && hk.count > 0 && len(sp.Buckets) < keyspace.MaxBuckets:
			// Posts of months before the record's wait under the root.
			s.splitRoot(ctx, k, hk.key, sp, hk.count)
		}
	}
	for root, sp := range s.splits.all() {
		if !s.ownsCached(root) {
			switch {
			case sp.Residual > 0 || slices.ContainsFunc(sp.Buckets, func(b keyspace.Bucket) bool { return b.Moving }):
				s.learnSplit(root) // the hand-off's end
			case slices.ContainsFunc(leavesOf[root], func(k string) bool { return inMonthOf(k, now) }):
				// A node of a month that grows: the root's owners split
				// it further by the post ID as it fills.
				s.relearnSplit(root, now)
			}
			continue
		}
		if sp.Residual > 0 {
			if leaves := leavesOf[root]; len(leaves) > 0 && !slices.ContainsFunc(leaves, func(k string) bool { _, clean := s.repair.syncState(k); return !clean }) {
				s.finishHandDown(ctx, root, sp, now)
			}
			continue
		}
		if next := s.withMonthsOf(sp, now); !slices.Equal(next.Buckets, sp.Buckets) {
			s.setSplitLogged(ctx, root, next, "listed a month")
			sp = next
		}
		counted, counts := s.countBuckets(ctx, root, sp)
		if next, what := s.tendDepths(root, counted, counts); what != "" {
			s.setSplitLogged(ctx, root, next, what)
		} else if !slices.Equal(counted.Buckets, sp.Buckets) {
			s.setSplitLogged(ctx, root, counted, "")
		}
	}
}

// ownsCached reports whether this node is among key's owners as it knows
// them without asking the network.
func (s *Service) ownsCached(key string) bool {
	owners, ok := s.owners.cached(key, false)
	return ok && slices.Contains(owners, s.self)
}

// splitRoot splits root, or lists in its record sp the months of the held
// posts that wait under it, with held of them to hand down.
func (s *Service) splitRoot(ctx context.Context, k keyspace.Key, root string, sp keyspace.Split, held int) {
	perMonth := map[string]int{}
	err := s.store.PostsWithTerm(ctx, k.Field(), k.Value, func(p *post.Post) error {
		perMonth[keyspace.MonthOf(p.CreatedAt)]++
		return nil
	})
	if err != nil {
		s.log.Warn("could not count a term's posts by month to split it", "key", root, "err", err)
		return
	}
	next := keyspace.Split{Residual: held}
	byMonth := map[string]keyspace.Bucket{}
	for _, b := range sp.Buckets {
		byMonth[b.Month] = b
	}
	for m, n := range perMonth {
		if b, ok := byMonth[m]; ok {
			b.Count = max(b.Count, n)
			byMonth[m] = b
		} else {
			byMonth[m] = keyspace.Bucket{Month: m, Count: n}
		}
	}
	for _, m := range slices.Sorted(maps.Keys(byMonth)) {
		next.Buckets = append(next.Buckets, byMonth[m])
	}
	// Every month from the first through now, so that each bucket's posts
	// are counted, those of a month that had none yet included (planners
	// ask every month anyway, keyspace.Split.Through). Past ten years
	// (MaxBuckets), older posts stay under the root, which nobody asks once
	// the hand-down is done (docs/split-keys.md).
	next = next.Through(time.Now())
	what := "split"
	if len(sp.Buckets) > 0 {
		what = "listed months of posts that wait under the root"
	}
	s.setSplitLogged(ctx, root, next, what)
}

// finishHandDown clears root's residual, once every bucket this node
// holds was synced with its owners: unless posts of months before the
// record's came meanwhile (a split decided while posts arrive), which are
// listed first, and handed down at the next passes.
func (s *Service) finishHandDown(ctx context.Context, root string, sp keyspace.Split, now time.Time) {
	k, err := keyspace.Parse(root)
	if err != nil {
		return
	}
	early := 0
	err = s.store.PostsWithTerm(ctx, k.Field(), k.Value, func(p *post.Post) error {
		// A record of MaxBuckets months lists no older one: those posts
		// stay under the root (splitRoot).
		if len(sp.Buckets) < keyspace.MaxBuckets && keyspace.MonthOf(p.CreatedAt) < sp.Buckets[0].Month {
			early++
		}
		return nil
	})
	switch {
	case err != nil:
		s.log.Warn("could not check a split term's posts before ending its hand-down", "key", root, "err", err)
	case early > 0:
		s.splitRoot(ctx, k, root, sp, sp.Residual)
	default:
		sp.Residual = 0
		s.splits.settle(root, now)
		s.setSplitLogged(ctx, root, sp, "handed down")
	}
}

// withMonthsOf is sp with the month of now listed, and the next one on the
// last day of a month: a month after the record's is a bucket already
// (NodesOf), and a planner asks the buckets the record lists.
func (s *Service) withMonthsOf(sp keyspace.Split, now time.Time) keyspace.Split {
	months := []string{keyspace.MonthOf(now)}
	if next := keyspace.MonthOf(now.Add(24 * time.Hour)); next != months[0] {
		months = append(months, next)
	}
	out := sp
	out.Buckets = slices.Clone(sp.Buckets)
	for _, m := range months {
		if n := len(out.Buckets); n == 0 || out.Buckets[n-1].Month < m {
			out.Buckets = append(out.Buckets, keyspace.Bucket{Month: m})
		}
	}
	if n := len(out.Buckets); n > keyspace.MaxBuckets {
		out.Buckets = out.Buckets[n-keyspace.MaxBuckets:]
	}
	return out
}

// countBuckets is sp with each bucket's count as its nodes' owners report
// it (medianCounts), and the count of each node asked. A bucket that
// moves deeper is counted both one bit up and at its new depth, and holds
// the larger: the nodes one bit up hold its postings until the move is
// done, the new leaves once it is, and other owners of the root may
// decide it is done first. A bucket keeps its own count unless every node
// of one of its depths was counted.
func (s *Service) countBuckets(ctx context.Context, root string, sp keyspace.Split) (keyspace.Split, map[string]int) {
	k, err := keyspace.Parse(root)
	if err != nil {
		return sp, nil
	}
	rootNode, _ := k.Node()
	var keys []string
	for _, b := range sp.Buckets {
		for _, n := range bucketNodes(rootNode, b) {
			keys = append(keys, n.String())
		}
	}
	counts, err := s.medianCounts(ctx, keys)
	if err != nil {
		return sp, nil
	}
	out := sp
	out.Buckets = slices.Clone(sp.Buckets)
	for i, b := range out.Buckets {
		if n, ok := heldAt(rootNode, b, counts); ok {
			out.Buckets[i].Count = n
		}
	}
	return out, counts
}

// bucketNodes are the nodes of b's trie that hold its postings: its
// leaves, and while it moves deeper, its nodes one bit up too.
func bucketNodes(root keyspace.Node, b keyspace.Bucket) []keyspace.Node {
	at := keyspace.Split{Buckets: []keyspace.Bucket{b}}
	nodes := at.Leaves(root, time.Time{}, time.Time{})
	if b.Moving {
		moved := keyspace.Split{Buckets: []keyspace.Bucket{{Month: b.Month, Depth: b.Depth}}}
		nodes = append(nodes, moved.Leaves(root, time.Time{}, time.Time{})...)
	}
	return nodes
}

// heldAt is how many postings b holds by counts of its nodes
// (bucketNodes): the sum over its leaves, or for a moving bucket, the
// larger of the sums one bit up and at its new depth; ok is false unless
// every node of a sum was counted.
func heldAt(root keyspace.Node, b keyspace.Bucket, counts map[string]int) (held int, ok bool) {
	at := keyspace.Split{Buckets: []keyspace.Bucket{b}}
	held, ok = keyspace.SumOf(at.Leaves(root, time.Time{}, time.Time{}), counts)
	if b.Moving {
		moved := keyspace.Split{Buckets: []keyspace.Bucket{{Month: b.Month, Depth: b.Depth}}}
		if down, okDown := keyspace.SumOf(moved.Leaves(root, time.Time{}, time.Time{}), counts); okDown && (!ok || down > held) {
			held, ok = down, true
		}
	}
	return held, ok
}

// medianCounts is the count of each of keys as its owners report it: the
// median of their answers (of two, the larger: an owner still missing
// posts counts fewer), each owner asked once for all the keys it owns, so
// that no one owner moves a count. A key none of whose owners answered is
// left out.
func (s *Service) medianCounts(ctx context.Context, keys []string) (map[string]int, error) {
	byPeer := map[peer.ID][]string{}
	for _, key := range keys {
		owners, err := s.Owners(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("owners of %s: %w", key, err)
		}
		for _, o := range owners {
			byPeer[o] = append(byPeer[o], key)
		}
	}
	var mu sync.Mutex
	byKey := map[string][]int{}
	var g errgroup.Group
	g.SetLimit(8)
	for p, keys := range byPeer {
		g.Go(func() error {
			kc, err := s.Counts(ctx, p, keys)
			if err != nil {
				return nil // its keys are counted by their other owners
			}
			mu.Lock()
			defer mu.Unlock()
			for i, key := range keys {
				byKey[key] = append(byKey[key], kc[i].Count)
			}
			return nil
		})
	}
	_ = g.Wait()
	out := make(map[string]int, len(byKey))
	for key, cs := range byKey {
		out[key] = keyspace.MedianCount(cs)
	}
	return out, nil
}

// tendDepths splits a month further by the post ID as it fills, one
// bucket at a time (docs/split-keys.md), by counts of the buckets' nodes
// (countBuckets): once its leaves hold SplitAt postings each on average,
// it moves one bit deeper; once every leaf of the new depth holds as many
// postings as its node one bit up, the move is done, and the nodes one
// bit up keep their postings SplitGrace longer. It returns the record to
// keep and what changed, or "" when nothing did.
func (s *Service) tendDepths(root string, sp keyspace.Split, counts map[string]int) (keyspace.Split, string) {
	k, err := keyspace.Parse(root)
	if err != nil || counts == nil {
		return sp, ""
	}
	rootNode, _ := k.Node()
	for i, b := range sp.Buckets {
		if !b.Moving {
			continue
		}
		moving := keyspace.Split{Buckets: []keyspace.Bucket{b}}
		for _, up := range moving.Leaves(rootNode, time.Time{}, time.Time{}) {
			l, r := up, up
			l.Bits, r.Bits = up.Bits+"0", up.Bits+"1"
			c0, ok0 := counts[up.String()]
			c1, ok1 := counts[l.String()]
			c2, ok2 := counts[r.String()]
			if !ok0 || !ok1 || !ok2 || c1+c2 < c0 {
				return sp, "" // not yet moved
			}
		}
		out := sp
		out.Buckets = slices.Clone(sp.Buckets)
		out.Buckets[i].Moving = false
		return out, fmt.Sprintf("moved %s to %d bits", b.Month, b.Depth)
	}
	if s.cfg.SplitAt <= 0 {
		return sp, ""
	}
	for i := len(sp.Buckets) - 1; i >= 0; i-- {
		b := sp.Buckets[i]
		if b.Depth < keyspace.MaxSplitDepth && b.Count >= s.cfg.SplitAt<<b.Depth {
			out := sp
			out.Buckets = slices.Clone(sp.Buckets)
			out.Buckets[i].Depth++
			out.Buckets[i].Moving = true
			return out, fmt.Sprintf("moving %s to %d bits", b.Month, b.Depth+1)
		}
	}
	return sp, ""
}

// setSplitLogged sets root's record, and logs what changed unless what is
// empty.
func (s *Service) setSplitLogged(ctx context.Context, root string, sp keyspace.Split, what string) {
	if err := s.SetSplit(ctx, root, sp); err != nil {
		s.log.Warn("could not keep a split record", "key", root, "err", err)
		return
	}
	if what != "" {
		s.log.Info("split record", "key", root, "change", what, "residual", sp.Residual, "buckets", len(sp.Buckets), "postings", sp.Total())
	}
}

// learnSplit looks up root's record at its owners, in the background,
// unless a lookup of it waits already or too many do.
func (s *Service) learnSplit(root string) {
	b := &s.splits
	b.mu.Lock()
	if b.pending[root] || len(b.pending) >= maxSplitPending {
		b.mu.Unlock()
		return
	}
	if b.pending == nil {
		b.pending = map[string]bool{}
	}
	b.pending[root] = true
	b.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			b.mu.Lock()
			delete(b.pending, root)
			b.mu.Unlock()
		}()
		select {
		case b.learners <- struct{}{}:
			defer func() { <-b.learners }()
		case <-s.ctx.Done():
			return
		}
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		defer cancel()
		if err := s.lookUpSplit(ctx, root); err != nil {
			s.log.Debug("could not learn a split record", "key", root, "err", err)
		}
	}()
}

// lookUpSplit asks root's owners for their records and keeps the one they
// agree on (keyspace.Agree) once at least half of those that answer send
// one.
func (s *Service) lookUpSplit(ctx context.Context, root string) error {
	owners, err := s.Owners(ctx, root)
	if err != nil {
		return fmt.Errorf("owners of %s: %w", root, err)
	}
	answered := 0
	var records []keyspace.Split
	for _, o := range owners {
		if o == s.self {
			continue // its own record is what it is learning
		}
		kc, err := s.Counts(ctx, o, []string{root})
		if err != nil {
			continue
		}
		answered++
		if kc[0].Split != nil {
			records = append(records, *kc[0].Split)
		}
	}
	if len(records) == 0 || 2*len(records) < answered {
		return nil
	}
	k, err := keyspace.Parse(root)
	if err != nil {
		return err
	}
	rootNode, _ := k.Node()
	u := keyspace.Agree(rootNode, records, func(nodes []keyspace.Node) (int, bool) {
		keys := make([]string, len(nodes))
		for i, n := range nodes {
			keys[i] = n.String()
		}
		counts, err := s.medianCounts(ctx, keys)
		if err != nil {
			return 0, false
		}
		return keyspace.SumOf(nodes, counts)
	})
	if was, ok := s.splits.get(root); ok && slices.Equal(was.Buckets, u.Buckets) && was.Residual == u.Residual {
		return nil
	}
	return s.SetSplit(ctx, root, u)
}

// learnSplitIfOwned looks up the record of key, a term's root this node
// owns and holds nothing under, at most once every heardWindow: a node
// that became one of its owners after the term split learns the record
// from the owners before it, when planners first ask it for the count.
func (s *Service) learnSplitIfOwned(key string) {
	if !strings.HasPrefix(key, keyspace.ClassTerm+"/") || !s.ownsCached(key) {
		return
	}
	k, err := keyspace.Parse(key)
	if err != nil || k.Shard != "" || k.Month != "" {
		return
	}
	now := time.Now()
	b := &s.splits
	b.mu.Lock()
	at, seen := b.tried[key]
	fresh := !seen || now.Sub(at) >= heardWindow
	if fresh {
		fresh = stamp(&b.tried, key, now)
	}
	b.mu.Unlock()
	if fresh {
		s.learnSplit(key)
	}
}

// learnSplitsOf starts learning the records of the tries that keys, the
// keys a post was sent under, name and this node knows nothing of. Until
// it knows them, or heardWindow passes, it keeps the posts of those terms
// (keepsBack): it holds them for a node of a trie, which its holdings,
// knowing no split, would not say.
func (s *Service) learnSplitsOf(keys []string) {
	for _, key := range keys {
		n, err := keyspace.ParseNode(key)
		if err != nil || n.Month == "" {
			continue
		}
		root := n.Root().String()
		if sp, ok := s.splits.get(root); !ok || deeperThan(n, sp) {
			s.splits.hear(root, time.Now())
			s.learnSplit(root)
		}
	}
}

// deeperThan reports whether n is a prefix node deeper than the record sp
// splits n's month: the month's owners moved it deeper since.
func deeperThan(n keyspace.Node, sp keyspace.Split) bool {
	b, _, found := sp.Bucket(n.Month)
	return n.Bits != "" && (!found || len(n.Bits) > b.Depth)
}

// inMonthOf reports whether key is a node of a trie of the month of now,
// or of the month before, whose last posts may still come.
func inMonthOf(key string, now time.Time) bool {
	n, err := keyspace.ParseNode(key)
	return err == nil && (n.Month == keyspace.MonthOf(now) || n.Month == keyspace.MonthOf(now.AddDate(0, 0, -now.Day())))
}

// relearnSplit looks root's record up again, at most once every
// RepairInterval (and a minute): a node that holds posts of the month that
// grows learns when its owners split it further by the post ID.
func (s *Service) relearnSplit(root string, now time.Time) {
	b := &s.splits
	b.mu.Lock()
	at, seen := b.relearned[root]
	due := !seen || now.Sub(at) >= min(s.cfg.RepairInterval, time.Minute)
	if due {
		due = stamp(&b.relearned, root, now)
	}
	b.mu.Unlock()
	if due {
		s.learnSplit(root)
	}
}

// heardWindow is how long a node keeps the posts of a term it was sent a
// trie key of while it learns the term's record; a trie key no owner's
// record confirms delays the eviction of that term's posts by this much.
const heardWindow = 10 * time.Minute

// keepsBack reports whether eviction keeps a post with the given root keys
// (keyspace.Keys): one of them was handed down less than SplitGrace ago
// (planners may still ask the root), or was named by a trie key this node
// does not know the record of yet, or knows one older than the key.
func (s *Service) keepsBack(keys []string, now time.Time) bool {
	b := &s.splits
	b.mu.RLock()
	defer b.mu.RUnlock()
	if len(b.settled) == 0 && len(b.heard) == 0 {
		return false
	}
	for _, k := range keys {
		if at, ok := b.settled[k]; ok && now.Sub(at) < s.cfg.SplitGrace {
			return true
		}
		if at, ok := b.heard[k]; ok && now.Sub(at) < heardWindow {
			if _, known := b.records[k]; !known || b.pending[k] {
				return true
			}
		}
	}
	return false
}
