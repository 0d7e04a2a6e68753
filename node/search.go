package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/query"
)

// Bounds of a network search.
const (
	// fallbackPeers bounds the peers a query the network cannot route is
	// asked of.
	fallbackPeers = 16
	// maxParallelShards bounds the shards asked at once.
	maxParallelShards = 16
	// maxRefills bounds the extra rounds a page may take when a shard's
	// answer had hits that failed verification, or a split key's shard held
	// more of the page than its share.
	maxRefills = 6
	// countTTL is how long the count of a key (a term's document
	// frequency) is reused.
	countTTL = time.Minute
	// maxCachedCounts bounds the count cache.
	maxCachedCounts = 100_000
)

// Search runs a query on the whole network, or on the local index when
// req.Scope is query.ScopeLocal.
func (n *Node) Search(ctx context.Context, req query.Request) (*query.Result, error) {
	release, err := n.enterSearch(ctx)
	if err != nil {
		n.metrics.SearchRequests.WithLabelValues(metrics.OutcomeBusy).Inc()
		return nil, err
	}
	defer release()
	start := time.Now()
	scope := req.Scope
	if scope == "" {
		scope = query.ScopeNetwork
	}
	var res *query.Result
	switch scope {
	case query.ScopeLocal:
		res, err = query.Run(ctx, n.index, req)
	case query.ScopeNetwork:
		if n.net == nil {
			scope = query.ScopeLocal
			res, err = query.Run(ctx, n.index, req)
		} else {
			res, err = n.searchNetwork(ctx, req)
		}
	default:
		err = &query.RequestError{Msg: fmt.Sprintf("scope %q is unknown; use network or local", scope)}
		scope = "invalid" // a bounded label value
	}
	outcome := "ok"
	var syn *query.SyntaxError
	var bad *query.RequestError
	switch {
	case errors.As(err, &syn) || errors.As(err, &bad):
		outcome = "bad_request"
	case err != nil:
		outcome = "error"
	}
	n.metrics.SearchRequests.WithLabelValues(outcome).Inc()
	n.metrics.SearchSeconds.WithLabelValues(scope).Observe(time.Since(start).Seconds())
	if res != nil {
		res.Took = time.Since(start)
	}
	return res, err
}

// searchNetwork plans the query, asks the owner of each key of the plan for
// its shard of the matches, scored with the network's statistics, and
// merges the answers into one page.
func (n *Node) searchNetwork(ctx context.Context, req query.Request) (*query.Result, error) {
	phase := time.Now()
	p, err := query.Prepare(req)
	if err != nil {
		return nil, err
	}
	st := p.Stats
	rounds := 0
	if st == nil {
		var statsRounds int
		st, p.Ranking, statsRounds = n.networkStats(ctx, query.PositiveTerms(p.Node))
		rounds += statsRounds
	}
	leaves, routable := query.Plan(p.Node, n.leafCost)
	var keys []string
	for _, l := range leaves {
		keys = append(keys, keyspace.OfField(l.Field, l.Value)...)
	}
	if len(keys) > p2p.MaxSearchKeys {
		routable = false
	}
	n.observePhase(metrics.PhasePlan, phase)

	wire := p2p.SearchRequest{
		Query: req.Q, Lang: req.Lang, Since: req.Since, Until: req.Until,
		Sort: string(p.Sort), Size: p.Limit + 1, After: p.After, Stats: st,
	}
	if !routable {
		res, err := n.searchBestEffort(ctx, p, wire)
		if res != nil {
			res.RoundTrips += rounds
		}
		return res, err
	}
	parsed, err := keyspace.ParseAll(keys)
	if err != nil {
		return nil, err
	}
	wire.Keys = keys
	// A split key's shards hold its posts by a hash of their IDs, so each
	// holds about an even share of any page: ask each for twice its share
	// and a margin instead of a whole page. The merge notices the rare shard
	// that held more, and asks it again.
	sizes := make([]int, len(keys))
	for i, d := range parsed {
		sizes[i] = p.Limit + 1
		if d.Shard != "" {
			share := (p.Limit + keyspace.HotShards) / keyspace.HotShards
			sizes[i] = min(p.Limit+1, 2*share+4)
		}
	}

	phase = time.Now()
	answers := make([]*query.ShardAnswer, len(keys))
	failed := make([]bool, len(keys))
	asked := map[string]bool{}
	var refusal error // an owner's refusal of the query itself
	var mu sync.Mutex
	// While the membership settles, a new owner may lack some of a key's
	// posts: ask every owner and take the union. An owner that held the key
	// before and is alive is still among the closest live nodes, so it is
	// asked.
	replicas := 1
	if n.net.Settling() {
		replicas = n.net.Replicas()
	}
	ask := func(i int, after []string) {
		r := wire
		r.Index = i
		r.After = after
		r.Size = sizes[i]
		resps, from, err := n.net.SearchKeyN(ctx, keys[i], &r, replicas)
		mu.Lock()
		defer mu.Unlock()
		for _, f := range from {
			asked[f.String()] = true
		}
		if err != nil {
			n.log.Debug("shard failed", "key", keys[i], "err", err)
			failed[i] = true
			if errors.As(err, new(*p2p.QueryRefusedError)) {
				refusal = err
			}
			return
		}
		a := answers[i]
		if a == nil {
			a = &query.ShardAnswer{}
			answers[i] = a
		}
		a.More = false
		var last *query.Hit
		// An owner still missing posts counts fewer: keep the largest count.
		count := 0
		for _, resp := range resps {
			count = max(count, resp.Count)
			a.Total = max(a.Total, resp.Total)
			var l *query.Hit
			a.Hits = append(a.Hits, n.checkHits(p, resp.Hits, &parsed[i], &l)...)
			if len(resp.Hits) >= r.Size {
				a.More = true
				// Nothing unseen comes before the earlier of the full
				// answers' last hits.
				if l != nil && (last == nil || query.Less(p.Sort, l, last)) {
					last = l
				}
			}
		}
		// One owner's count only confirms what the owners said together.
		n.confirmCount(keys[i], count)
		if a.More && last != nil && len(resps) > 1 {
			// Another owner's hits beyond that point may have skipped a
			// post the first one would have returned next: keep them for
			// the next round, not this page.
			a.Hits = slices.DeleteFunc(a.Hits, func(h query.Hit) bool { return query.Less(p.Sort, last, &h) })
		}
		a.Last = last
	}
	all := make([]int, len(keys))
	for i := range all {
		all[i] = i
	}
	n.forEach(all, func(i int) { ask(i, p.After) })
	rounds++
	if refusal != nil {
		return nil, &query.RequestError{Msg: refusal.Error()}
	}
	n.observePhase(metrics.PhaseFanout, phase)

	phase = time.Now()
	res, complete := p.Merge(answers, st)
	for round := 0; round < maxRefills; round++ {
		var again []int
		for i, ok := range complete {
			if !ok && !failed[i] && answers[i] != nil && answers[i].Last != nil {
				again = append(again, i)
			}
		}
		if len(again) == 0 {
			break
		}
		n.forEach(again, func(i int) { ask(i, answers[i].Last.Sort) })
		rounds++
		res, complete = p.Merge(answers, st)
	}
	n.observePhase(metrics.PhaseMerge, phase)
	incomplete := false
	for i, ok := range complete {
		if !ok && !failed[i] {
			incomplete = true
		}
	}

	res.Scope = query.ScopeNetwork
	res.Shards.Asked = len(keys)
	for _, f := range failed {
		if f {
			res.Shards.Failed++
		}
	}
	res.Shards.Answered = res.Shards.Asked - res.Shards.Failed
	// A page still incomplete after every refill may lack hits: say so.
	res.Partial = res.Shards.Failed > 0 || incomplete
	res.RoundTrips = rounds
	res.PeersAsked = len(asked)
	n.observeQuery(len(asked), res.Shards.Failed, res.Partial)
	return res, nil
}

// searchBestEffort asks a bounded number of peers to search their whole
// index, for a query with no key every match holds.
func (n *Node) searchBestEffort(ctx context.Context, p *query.Prepared, wire p2p.SearchRequest) (*query.Result, error) {
	phase := time.Now()
	resps, asked, failed, refused := n.net.SearchPeers(ctx, fallbackPeers, &wire)
	if refused != nil {
		return nil, &query.RequestError{Msg: refused.Error()}
	}
	n.observePhase(metrics.PhaseFanout, phase)
	phase = time.Now()
	answers := make([]*query.ShardAnswer, 0, len(resps))
	var total uint64
	for _, r := range resps {
		a := &query.ShardAnswer{More: len(r.Hits) >= wire.Size}
		a.Hits = n.checkHits(p, r.Hits, nil, &a.Last)
		total = max(total, r.Total)
		answers = append(answers, a)
	}
	res, _ := p.Merge(answers, wire.Stats)
	// The peers' matches overlap: the largest count is a lower bound.
	res.Total = max(total, uint64(len(res.Hits)))
	res.Scope = query.ScopeNetwork
	res.BestEffort = true
	res.Shards = query.ShardCounts{Asked: asked, Answered: asked - failed, Failed: failed}
	res.Partial = failed > 0
	res.RoundTrips = 1
	res.PeersAsked = asked
	n.observePhase(metrics.PhaseMerge, phase)
	n.observeQuery(asked, failed, res.Partial)
	return res, nil
}

// checkHits verifies the hits a shard sent, each once as it arrives:
// signature and ID, sort values, the shard's domain, and that the post
// matches the query. last receives the last hit whose signature verified,
// in the domain and matching or not, for paging on.
func (n *Node) checkHits(p *query.Prepared, hits []p2p.SearchHit, d *keyspace.Key, last **query.Hit) []query.Hit {
	now := n.cfg.Now()
	var out []query.Hit
	for _, h := range hits {
		spans := make([]query.Span, len(h.Spans))
		for i, s := range h.Spans {
			spans[i] = query.Span{Start: s[0], End: s[1]}
		}
		hit, err := query.CheckHit(p.Sort, h.Post, h.Score, h.Sort, spans, now)
		if err != nil {
			n.log.Debug("dropped a hit that does not verify", "err", err)
			continue
		}
		*last = hit
		if d != nil && !d.Contains(hit.Post) {
			n.log.Debug("dropped a hit outside its shard", "id", hit.Post.ID)
			continue
		}
		if !query.Matches(p.Node, hit.Post) {
			n.log.Debug("dropped a hit that does not match the query", "id", hit.Post.ID)
			continue
		}
		out = append(out, *hit)
	}
	return out
}

// forEach runs fn for each index, at most maxParallelShards at a time.
func (n *Node) forEach(is []int, fn func(int)) {
	var g errgroup.Group
	g.SetLimit(maxParallelShards)
	for _, i := range is {
		g.Go(func() error { fn(i); return nil })
	}
	_ = g.Wait() // fn reports through its closure
}

// serveSearch answers a peer's search on the local index: the query
// restricted to one shard of the plan, scored with the statistics sent.
func (n *Node) serveSearch(ctx context.Context, r *p2p.SearchRequest) (*p2p.SearchResponse, error) {
	p, err := query.Prepare(query.Request{Q: r.Query, Sort: query.Sort(r.Sort), Lang: r.Lang, Since: r.Since, Until: r.Until, Limit: 1})
	if err != nil {
		return nil, err
	}
	if err := query.CheckAfter(p.Sort, r.After); err != nil {
		return nil, err
	}
	p.After = r.After
	parsed, err := keyspace.ParseAll(r.Keys)
	if err != nil {
		return nil, err
	}
	sr, err := p.SearchRequest(parsed, r.Index, r.Size)
	if err != nil {
		return nil, err
	}
	st := r.Stats
	if st != nil && (st.Docs == 0 || st.TextTerms == 0) {
		st = nil
	}
	res, err := n.index.SearchWithStats(ctx, sr, st)
	if err != nil {
		var bad *query.RequestError
		if err := query.SearchError(r.Query, err); errors.As(err, &bad) {
			return &p2p.SearchResponse{Refused: bad.Msg}, nil
		}
		return nil, err
	}
	out := &p2p.SearchResponse{Total: res.Total, Hits: make([]p2p.SearchHit, 0, len(res.Hits))}
	for _, h := range res.Hits {
		raw, score, sortVals, spans, err := query.RawHit(p.Sort, h)
		if err != nil {
			continue
		}
		sh := p2p.SearchHit{Post: []byte(raw), Score: score, Sort: sortVals}
		for _, s := range spans {
			sh.Spans = append(sh.Spans, [2]int{s.Start, s.End})
		}
		out.Hits = append(out.Hits, sh)
	}
	return out, nil
}

// leafCost prices asking a leaf's owners: the posts they would search, from
// the cached counts, plus a fixed price per key (a key is an owner to ask).
// A leaf whose counts are unknown is priced as large.
func (n *Node) leafCost(l query.Leaf) float64 {
	const perKey = 100
	keys := keyspace.OfField(l.Field, l.Value)
	cost := float64(perKey * len(keys))
	for _, k := range keys {
		c, ok := n.cachedCount(k)
		if !ok {
			return cost + 1e12
		}
		cost += float64(c)
	}
	return cost
}

// networkStats gathers the statistics of the network that BM25 needs for
// terms: the posts and distinct terms in the network, and each term's
// document frequency from its owners (cached). ranking says how complete
// they are (query.Ranking*); without any, owners score with their own,
// and the search goes on. rounds counts the sequential exchanges it waited
// for: the totals, then the counts.
func (n *Node) networkStats(ctx context.Context, terms []string) (st *index.Stats, ranking string, rounds int) {
	t, asked := n.net.Totals(ctx)
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
			if _, ok := n.cachedCount(k); !ok {
				missing = append(missing, k)
			}
		}
	}
	if len(missing) > 0 {
		rounds++
		for k, c := range n.net.KeyCounts(ctx, missing) {
			n.cacheCount(k, c)
		}
	}
	var maxDF uint64
	for _, term := range terms {
		var df uint64
		for _, k := range keyspace.TermKeys(term) {
			c, _ := n.cachedCount(k)
			df += uint64(c)
		}
		st.DocFreq[term] = df
		maxDF = max(maxDF, df)
	}
	if maxDF > st.Docs {
		// The totals are older than the counts: posts arrived between the
		// two. Owners refuse a frequency above the post count, so fetch the
		// totals again, and if they still lag, raise the count to match.
		n.net.InvalidateTotals()
		if t, _ := n.net.Totals(ctx); t.Posts > 0 {
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

func (n *Node) cachedCount(key string) (int, bool) {
	n.countsMu.Lock()
	defer n.countsMu.Unlock()
	e, ok := n.counts[key]
	if !ok || n.cfg.Now().After(e.expires) {
		return 0, false
	}
	return e.count, true
}

// confirmCount extends the life of a cached count that c, one owner's
// count of the key, agrees with; a count that differs changes nothing, and
// the key is asked of all its owners again once its entry expires.
func (n *Node) confirmCount(key string, c int) {
	n.countsMu.Lock()
	defer n.countsMu.Unlock()
	if e, ok := n.counts[key]; ok && e.count == c && !n.cfg.Now().After(e.expires) {
		e.expires = n.cfg.Now().Add(countTTL)
		n.counts[key] = e
	}
}

func (n *Node) cacheCount(key string, c int) {
	n.countsMu.Lock()
	defer n.countsMu.Unlock()
	if n.counts == nil || len(n.counts) >= maxCachedCounts {
		n.counts = map[string]countEntry{}
	}
	n.counts[key] = countEntry{count: c, expires: n.cfg.Now().Add(countTTL)}
}

func (n *Node) observePhase(phase string, since time.Time) {
	if n.metrics.QueryPhaseSeconds != nil {
		n.metrics.QueryPhaseSeconds.WithLabelValues(phase).Observe(time.Since(since).Seconds())
	}
}

func (n *Node) observeQuery(asked, failed int, partial bool) {
	if n.metrics.QueryPeersAsked != nil {
		n.metrics.QueryPeersAsked.Observe(float64(asked))
		n.metrics.QueryPeersFailed.Observe(float64(failed))
	}
	if partial && n.metrics.QueryPartial != nil {
		n.metrics.QueryPartial.Inc()
	}
}
