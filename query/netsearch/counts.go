package netsearch

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/query"
)

// Bounds of the count cache.
const (
	// CountTTL is how long the count of a key (a term's document
	// frequency), and the split record that comes with it, is reused
	// (Config.CountTTL).
	CountTTL = time.Minute
	// maxCachedCounts bounds the count cache.
	maxCachedCounts = 100_000
)

// KeyCounts returns how many posts the owners of each key hold under it: for
// a term key, the term's document frequency in the network (or in its
// shard). Every owner of a key is asked, in one round, and the key counts
// at the median of their answers (the larger of two: an owner still
// missing posts counts fewer), so that no one owner steers the plan or the
// ranking. A key whose owners all fail is left out.
func (c *Coordinator) KeyCounts(ctx context.Context, keys []string) map[string]int {
	byOwner := map[peer.ID][]string{}
	for _, k := range keys {
		owners, err := c.tr.Owners(ctx, k)
		if err != nil {
			continue
		}
		for _, o := range owners {
			byOwner[o] = append(byOwner[o], k)
		}
	}
	var mu sync.Mutex
	got := make(map[string][]int, len(keys))
	splits := map[string][]keyspace.Split{}
	refused := map[peer.ID][]string{}
	ask := func(p peer.ID, ks []string) {
		start := time.Now()
		counts, err := c.tr.Counts(ctx, p, ks)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if time.Since(start) < HedgeDelay {
				refused[p] = append(refused[p], ks...)
			}
			return
		}
		for i, k := range ks {
			got[k] = append(got[k], counts[i].Count)
			if sp := counts[i].Split; sp != nil {
				splits[k] = append(splits[k], *sp)
			}
		}
	}
	c.fanOut(byOwner, ask)
	// An owner that refused at once (a reset, a full queue) is asked again.
	if len(refused) > 0 && ctx.Err() == nil {
		again := refused
		refused = map[peer.ID][]string{}
		c.fanOut(again, ask)
	}
	out := make(map[string]int, len(got))
	for k, cs := range got {
		c.learnSplit(ctx, k, len(cs), splits[k])
		out[k] = keyspace.MedianCount(cs)
	}
	return out
}

// fanOut runs ask for each peer's keys, in batches of MaxStatsTerms, at
// most 16 at a time.
func (c *Coordinator) fanOut(byOwner map[peer.ID][]string, ask func(peer.ID, []string)) {
	var g errgroup.Group
	g.SetLimit(16)
	for p, ks := range byOwner {
		for len(ks) > 0 {
			n := min(len(ks), MaxStatsTerms)
			batch := ks[:n]
			ks = ks[n:]
			g.Go(func() error { ask(p, batch); return nil })
		}
	}
	_ = g.Wait() // ask records its own failures
}

// leafCost prices asking a leaf's owners: the posts they would search, from
// the cached counts, plus a fixed price per key (a key is an owner to ask).
// A leaf whose counts are unknown is priced as large.
func (c *Coordinator) leafCost(l query.Leaf) float64 {
	const perKey = 100
	keys := keyspace.OfField(l.Field, l.Value)
	cost := float64(perKey * len(keys))
	for _, k := range keys {
		n, ok := c.cachedCount(k)
		if !ok {
			return cost + unknownCountCost
		}
		cost += float64(n)
	}
	return cost
}

// unknownCountCost is the price leafCost adds for a key whose count is
// not known: above any count.
const unknownCountCost = 1e12

// aloneCostFactor scales the price of a leaf this node answers alone
// (run.planCost): far below any leaf asked of another owner, whose fixed
// price alone is 100, and in the same order among such leaves.
const aloneCostFactor = 1e-6

// KnownOwners is what a Transport may also tell: key's owners as this node
// knows them without asking the network, false when it would have to ask.
// p2p's Service tells it; with it the planner prefers, among the leaves
// that answer a query exactly, one this node answers alone (run.planCost).
type KnownOwners interface {
	KnownOwners(key string) ([]peer.ID, bool)
}

// planCost prices a leaf for this run's plan: leafCost, scaled down by
// aloneCostFactor when this node answers every key of the leaf alone
// (answersAlone, with owners it knows without asking). Any leaf of an AND,
// or any position of a phrase, finds every match, so the one this node
// holds answers the query without a request, where the rarest leaf of
// another owner costs a round trip: at N=4 and R=3 a querier owns the
// rarest of two terms 3 times in 4, and one of them 15 times in 16. In
// runs that check this node (checkSelf, where answersAlone is false), a
// leaf split into a trie and leaves of unknown counts are priced as
// leafCost does.
func (r *run) planCost(ctx context.Context) func(query.Leaf) float64 {
	known, ok := r.c.tr.(KnownOwners)
	if !ok {
		return r.c.leafCost
	}
	return func(l query.Leaf) float64 {
		cost := r.c.leafCost(l)
		if cost >= unknownCountCost {
			return cost
		}
		for _, k := range keyspace.OfField(l.Field, l.Value) {
			if _, _, split := r.c.splitRoot(k, r.c.cfg.Now()); split {
				return cost
			}
			owners, ok := known.KnownOwners(k)
			if !ok || !r.answersAlone(ctx, k, owners) {
				return cost
			}
		}
		return cost * aloneCostFactor
	}
}

// networkStats gathers the statistics of the network that BM25 needs for
// terms: the posts and distinct terms in the network, and each term's
// document frequency from its owners (cached). ranking says how complete
// they are (query.Ranking*); without any, owners score with their own,
// and the search goes on. rounds counts the sequential exchanges it waited
// for: the totals, then the counts.
func (c *Coordinator) networkStats(ctx context.Context, terms []string) (st *index.Stats, ranking string, rounds int) {
	t, asked := c.Totals(ctx)
	if asked {
		rounds++
	}
	if t.Posts == 0 || t.Terms == 0 {
		return nil, query.RankingLocal, rounds
	}
	switch {
	case t.Kept:
		ranking = query.RankingLastGood
	case t.Answered < t.Asked:
		ranking = query.RankingPartial
	default:
		ranking = query.RankingNetwork
	}
	st = &index.Stats{Docs: t.Posts, TextTerms: t.Terms, DocFreq: make(map[string]uint64, len(terms))}
	var missing []string
	for _, term := range terms {
		for _, k := range keyspace.TermKeys(term) {
			if _, ok := c.cachedCount(k); !ok {
				missing = append(missing, k)
			}
		}
	}
	if len(missing) > 0 {
		rounds++
		for k, n := range c.KeyCounts(ctx, missing) {
			c.cacheCount(k, n)
		}
	}
	var maxDF uint64
	for _, term := range terms {
		var df uint64
		for _, k := range keyspace.TermKeys(term) {
			n, _ := c.cachedCount(k)
			df += uint64(n)
		}
		st.DocFreq[term] = df
		maxDF = max(maxDF, df)
	}
	if maxDF > st.Docs {
		// The totals are older than the counts: posts arrived between the
		// two. Owners refuse a frequency above the post count, so fetch the
		// totals again, and if they still lag, raise the count to match.
		c.InvalidateTotals()
		if t, _ := c.Totals(ctx); t.Posts > 0 {
			rounds++
			st.Docs, st.TextTerms = t.Posts, max(t.Terms, st.TextTerms)
		}
		st.Docs = max(st.Docs, maxDF)
	}
	if st.Check() != nil {
		// Owners refuse figures out of range: score with their own
		// rather than fail the search.
		return nil, query.RankingLocal, rounds
	}
	return st, ranking, rounds
}

type countEntry struct {
	count   int
	expires time.Time
}

func (c *Coordinator) cachedCount(key string) (int, bool) {
	c.countsMu.Lock()
	defer c.countsMu.Unlock()
	e, ok := c.counts[key]
	if !ok || c.cfg.Now().After(e.expires) {
		return 0, false
	}
	return e.count, true
}

// confirmCount extends the life of a cached count that c, one owner's
// count of the key, agrees with; a count that differs changes nothing, and
// the key is asked of all its owners again once its entry expires.
func (c *Coordinator) confirmCount(key string, n int) {
	c.countsMu.Lock()
	defer c.countsMu.Unlock()
	if e, ok := c.counts[key]; ok && e.count == n && !c.cfg.Now().After(e.expires) {
		e.expires = c.cfg.Now().Add(c.cfg.CountTTL)
		c.counts[key] = e
	}
}

func (c *Coordinator) cacheCount(key string, n int) {
	c.countsMu.Lock()
	defer c.countsMu.Unlock()
	if c.counts == nil || len(c.counts) >= maxCachedCounts {
		c.counts = map[string]countEntry{}
	}
	c.counts[key] = countEntry{count: n, expires: c.cfg.Now().Add(c.cfg.CountTTL)}
}
