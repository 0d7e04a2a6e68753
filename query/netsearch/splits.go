package netsearch

import (
	"context"
	"time"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
)

// maxRememberedSplits bounds the split records a coordinator keeps.
const maxRememberedSplits = 10_000

// learnSplit takes what the answered owners of key said of its split
// (docs/split-keys.md): once at least half of them send a record, the key
// is split, and the planner asks the leaves of the record they agree on
// (keyspace.Agree): every month any of them lists, each bucket as most of
// them have it, and where two records differ on a bucket, as the nodes
// that hold more of its postings have it, so that one lying owner steers
// nothing. A split is never undone, so a round where fewer owners send
// one keeps what was learned before.
func (c *Coordinator) learnSplit(ctx context.Context, key string, answered int, records []keyspace.Split) {
	if len(records) == 0 || 2*len(records) < answered {
		return
	}
	k, err := keyspace.Parse(key)
	if err != nil {
		return
	}
	root, ok := k.Node()
	if !ok {
		return
	}
	u := keyspace.Agree(root, records, func(nodes []keyspace.Node) (int, bool) {
		return c.heldBy(ctx, nodes)
	})
	c.countsMu.Lock()
	defer c.countsMu.Unlock()
	if c.splits == nil {
		c.splits = map[string]keyspace.Split{}
	}
	if _, ok := c.splits[key]; !ok && len(c.splits) >= maxRememberedSplits {
		for k := range c.splits { // drop one, any
			delete(c.splits, k)
			break
		}
	}
	c.splits[key] = u
}

// heldBy is how many postings nodes hold, each as the median of its
// owners' counts (KeyCounts), and whether every one of them was counted.
func (c *Coordinator) heldBy(ctx context.Context, nodes []keyspace.Node) (int, bool) {
	keys := make([]string, len(nodes))
	for i, n := range nodes {
		keys[i] = n.String()
	}
	return keyspace.SumOf(nodes, c.KeyCounts(ctx, keys))
}

// splitOf is the split record learned of key, if it is split.
func (c *Coordinator) splitOf(key string) (keyspace.Split, bool) {
	c.countsMu.Lock()
	defer c.countsMu.Unlock()
	sp, ok := c.splits[key]
	return sp, ok
}

// splitRoot is key's record, through the month of now (Split.Through),
// and its trie's root, when key is a split root.
func (c *Coordinator) splitRoot(key string, now time.Time) (keyspace.Split, keyspace.Node, bool) {
	sp, ok := c.splitOf(key)
	if !ok {
		return keyspace.Split{}, keyspace.Node{}, false
	}
	k, err := keyspace.Parse(key)
	if err != nil {
		return keyspace.Split{}, keyspace.Node{}, false
	}
	root, ok := k.Node()
	if !ok {
		return keyspace.Split{}, keyspace.Node{}, false
	}
	return sp.Through(now.Add(post.MaxFutureSkew * time.Second)), root, true
}

// expand is the keys a search of posts created in [since, until) asks for
// key: the leaves of its trie that hold them, when key is a split root,
// else key itself.
func (c *Coordinator) expand(key string, since, until time.Time) []string {
	sp, root, ok := c.splitRoot(key, c.cfg.Now())
	if !ok {
		return []string{key}
	}
	leaves := sp.Leaves(root, since, until)
	out := make([]string, len(leaves))
	for i, n := range leaves {
		out[i] = n.String()
	}
	return out
}

// trieShares is, for a query sorted by score, each unit's share of the
// postings of its split term that the plan asks, when the unit is a node
// of the term's trie that the record counts: its bucket's count over
// 2^bits, over the sum of the plan's nodes of that trie (the root's
// residual among them). A term's posts fall in months and ID prefixes
// whatever their score, so a leaf's part of a page is about that share
// (spanSize), where every leaf was asked for a page: 12 times a whole
// key's bytes for a term of 13 months (docs/benchmarks.md). 0 where it is
// not known (the unit is asked for a whole page); nil for a query sorted
// by date, whose buckets are asked newest first (deferBuckets).
func (r *run) trieShares() []float64 {
	if r.p.Sort != query.SortTop || r.whole || r.c.cfg.EveryBucketAtOnce {
		return nil
	}
	held := make([]float64, len(r.units))
	sum := map[string]float64{} // per root
	for u, un := range r.units {
		k := r.parsed[un.lo]
		if un.span() != 1 || k.Shard != "" {
			continue
		}
		root := keyspace.RootNode(k.Class, k.Value).String()
		sp, ok := r.c.splitOf(root)
		if !ok {
			continue
		}
		if k.Month == "" {
			sum[root] += float64(sp.Residual) // asked whole: it may hold any post
			continue
		}
		if b, _, ok := sp.Bucket(k.Month); ok && b.Count > 0 {
			held[u] = float64(b.Count) / float64(int(1)<<len(k.Bits))
			sum[root] += held[u]
		}
	}
	if len(sum) == 0 {
		return nil
	}
	for u, un := range r.units {
		k := r.parsed[un.lo]
		if held[u] > 0 {
			held[u] /= sum[keyspace.RootNode(k.Class, k.Value).String()]
		}
	}
	return held
}

// liveNodes are the keys a standing search of key is kept under at now:
// key, and when it is a split root, the nodes of its trie that new posts
// go to, those of the current month and after. A post of a month the
// record does not list yet is held under the root (Split.NodesOf).
func (c *Coordinator) liveNodes(key string, now time.Time) []string {
	sp, root, ok := c.splitRoot(key, now)
	if !ok {
		return []string{key}
	}
	out := []string{key}
	month, _, err := keyspace.MonthSpan(keyspace.MonthOf(now))
	if err != nil {
		return out
	}
	for _, n := range sp.Leaves(root, month, time.Time{}) {
		if n != root {
			out = append(out, n.String())
		}
	}
	return out
}
