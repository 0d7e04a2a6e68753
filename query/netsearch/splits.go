package netsearch

import (
	"context"
	"time"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
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
	counts := c.KeyCounts(ctx, keys)
	sum := 0
	for _, k := range keys {
		n, ok := counts[k]
		if !ok {
			return 0, false
		}
		sum += n
	}
	return sum, true
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
