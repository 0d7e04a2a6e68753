package netsearch

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/query"
)

// Bounds of a network search.
const (
	// FallbackPeers bounds the peers a query the network cannot route is
	// asked of.
	FallbackPeers = 16
	// maxParallelShards bounds the shards asked at once.
	maxParallelShards = 16
	// maxRefills bounds the extra rounds a page may take when a shard's
	// answer had hits that failed verification, or a split key's shard held
	// more of the page than its share.
	maxRefills = 6
)

// Search runs a query on the whole network: it plans the query into keys,
// asks an owner of each for its shard of the matches, scored with the
// network's statistics, merges the answers into one page and asks again
// the shards that may hold more.
func (c *Coordinator) Search(ctx context.Context, req query.Request) (*query.Result, error) {
	p, err := query.Prepare(req)
	if err != nil {
		return nil, err
	}
	r := &run{c: c, p: p, req: req}
	return r.search(ctx)
}

// run is one network search in progress: its plan, the owners' answers
// so far, and what it asked.
type run struct {
	c   *Coordinator
	p   *query.Prepared
	req query.Request

	st     *index.Stats
	wire   Request
	keys   []string
	parsed []keyspace.Key
	// units are the runs of keys asked together: one key, or shards of
	// one split key that have the same owners (a span). answers, sizes,
	// fullLasts and failed are per unit.
	units []unit
	sizes []int
	// replicas is how many owners of each key are asked: two for the first
	// page of a query sorted by score (crossCheck), one otherwise; all of
	// them for a key whose owners are settling (replicasOf).
	replicas int
	// crossCheck: the owners' match counts are compared, and a third owner
	// settles a disagreement.
	crossCheck bool
	// rescore: the querier recomputes every hit's score (query.Rescore).
	rescore bool
	// digestFirst: the units of a plan of several are asked for digests
	// first, and only the hits that make the page are fetched
	// (digestfirst.go).
	digestFirst bool
	// checkSelf: this run's pages are checked by another owner even where
	// this node owns a key (Config.SelfCheckShare); else units this node
	// owns are answered by it alone (unit.alone).
	checkSelf bool
	// whole: this node answers every key of the plan alone, and its own
	// index answers the query in one search of the whole index (one unit
	// for all the keys, asked with none).
	whole bool
	// deferred marks the units asked for their counts alone so far: a
	// split term's older buckets, for a query sorted by date (latest.go).
	deferred []bool
	rounds   int

	mu      sync.Mutex
	answers []*query.ShardAnswer
	// own holds the hits this node's own index gave, by post ID: they were
	// verified when stored, matched the query here and were scored with
	// the run's statistics, so they are neither checked nor rescored, and
	// another owner's copy of one takes its score.
	own map[string]query.Hit
	// fullLasts are, per key, the last hits of the owners' answers that
	// filled the size asked in the latest round, as the owners scored
	// them; cutAnswers bounds each key's hits by the earliest of them.
	fullLasts [][]*query.Hit
	// scored holds every hit rescored so far and the own hits, by ID.
	scored map[string]query.Hit
	failed []bool
	// answeredBy are, per unit, the owners that gave each of its
	// answers: summary checks that each had one of the keys' prior
	// owners (Transport.PriorOwners).
	answeredBy [][][]peer.ID
	asked      map[peer.ID]bool
	refusal    error // an owner's refusal of the query itself
}

// unit is a run of the plan's keys, keys[lo:hi], asked of their owners in
// one request. alone: this node owns every key of the unit and answers it
// by itself (run.answersAlone); the shards of a split key that it answers
// alone make one unit whatever their other owners.
type unit struct {
	lo, hi int
	alone  bool
}

// span is how many keys the unit holds.
func (u unit) span() int { return u.hi - u.lo }

func (r *run) search(ctx context.Context) (*query.Result, error) {
	phase := time.Now()
	routable, err := r.plan(ctx)
	r.c.observePhase(metrics.PhasePlan, phase)
	if err != nil {
		return nil, err
	}
	if !routable {
		return r.bestEffort(ctx)
	}
	phase = time.Now()
	r.fanOut(ctx)
	r.c.observePhase(metrics.PhaseFanout, phase)
	if r.refusal != nil {
		return nil, &query.RequestError{Msg: r.refusal.Error()}
	}
	phase = time.Now()
	res, complete := r.refill(ctx)
	r.c.observePhase(metrics.PhaseMerge, phase)
	return r.summary(ctx, res, complete), nil
}

// plan gathers the statistics the query's terms need, chooses the keys
// whose owners answer it, and sizes what each key is asked for. It reports
// false for a query no key routes.
func (r *run) plan(ctx context.Context) (routable bool, err error) {
	r.st = r.p.Stats
	if r.st == nil {
		var rounds int
		r.st, r.p.Ranking, rounds = r.c.networkStats(ctx, query.PositiveTerms(r.p.Expr))
		r.rounds += rounds
	}
	r.rescore = !r.c.cfg.TrustOwners && r.p.Rescorable(r.st)
	r.checkSelf = r.c.cfg.SelfCheckShare >= 1 || rand.Float64() < r.c.cfg.SelfCheckShare
	leaves, routable := query.Plan(r.p.Expr, r.planCost(ctx))
	since, until := query.TimeRange(r.p.Expr)
	for _, l := range leaves {
		for _, k := range keyspace.OfField(l.Field, l.Value) {
			r.keys = append(r.keys, r.c.expand(k, since, until)...)
		}
	}
	if len(r.keys) > MaxKeys {
		routable = false
	}
	r.wire = Request{
		Query: r.req.Q, Lang: r.req.Lang, Since: r.req.Since, Until: r.req.Until,
		Sort: string(r.p.Sort), Size: r.p.Limit + 1, After: r.p.After, Stats: r.st,
	}
	if !routable {
		return false, nil
	}
	if r.parsed, err = keyspace.ParseAll(r.keys); err != nil {
		return false, err
	}
	r.units = r.spans(ctx)
	r.wire.Keys = r.keys
	if len(r.units) > 1 && !slices.ContainsFunc(r.units, func(u unit) bool { return !u.alone }) {
		// Every match of the query is under a key of the plan, and this
		// node holds every post under each of them: its index holds
		// exactly the matches, and one search of it finds them, where
		// one search a unit would split them between the keys.
		r.whole = true
		r.units = []unit{{lo: 0, hi: len(r.keys), alone: true}}
	}
	r.sizes = make([]int, len(r.units))
	shares := r.trieShares()
	for u, un := range r.units {
		r.sizes[u] = r.p.Limit + 1
		switch {
		case r.whole:
		case r.parsed[un.lo].Shard != "":
			r.sizes[u] = spanSize(r.p.Limit+1, float64(un.span())/keyspace.HotShards, r.c.cfg.SpanDeviations)
		case shares != nil && shares[u] > 0:
			r.sizes[u] = spanSize(r.p.Limit+1, shares[u], r.c.cfg.SpanDeviations)
		}
	}
	r.deferred = r.deferBuckets()
	r.answers = make([]*query.ShardAnswer, len(r.units))
	r.failed = make([]bool, len(r.units))
	r.answeredBy = make([][][]peer.ID, len(r.units))
	r.asked = map[peer.ID]bool{}
	r.own = map[string]query.Hit{}
	r.fullLasts = make([][]*query.Hit, len(r.units))
	r.replicas = 1
	r.digestFirst = !r.c.cfg.NoDigestsFirst
	// The first page of a query sorted by score is what an owner who hides
	// or demotes posts would aim at: ask two owners and merge, so that one
	// owner alone can hide nothing (the union holds every match the other
	// holds).
	if r.p.Sort == query.SortTop && r.p.After == nil && !r.c.cfg.TrustOwners {
		r.crossCheck = true
		r.replicas = 2
	}
	return true, nil
}

// replicasOf is how many owners of unit i are asked. While a key's owners
// settle after the membership changed, a new owner may lack some of its
// posts: ask every owner and take the union. An owner that held the key
// before and is alive is still among the closest live nodes, so it is
// asked.
func (r *run) replicasOf(ctx context.Context, i int) int {
	if r.c.tr.SettlingKey(ctx, r.keys[r.units[i].lo]) {
		return max(r.replicas, r.c.tr.Replicas())
	}
	return r.replicas
}

// spanSize is how many of a page of n hits to ask of a unit that holds a
// share p of the postings the page is drawn from, independently of their
// rank: a span of m of a split key's shards (p = m/HotShards: the shards
// hold a key's posts by a hash of their IDs), or a leaf of a split term's
// trie (trieShares). Its part of the page is binomial, (n, p): ask for
// its mean and sds standard deviations, and one more to tell whether it
// holds more. The merge notices the unit that held more than that, and
// asks it again (a second round).
func spanSize(n int, p, sds float64) int {
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return min(n, int(math.Ceil(mean+sds*sd))+1)
}

// spans orders each run of a split key's shards in the plan by their
// owners and returns the plan's units: each key alone, but shards with the
// same owners together, so that each owner is asked once for all the
// shards of a key it holds. The shards of a key hold disjoint posts, so
// their order in the plan does not change what any key answers for.
func (r *run) spans(ctx context.Context) []unit {
	var units []unit
	for lo := 0; lo < len(r.keys); {
		hi := lo + 1
		for hi < len(r.keys) && r.parsed[hi].ShardsOfOneKey(r.parsed[lo]) {
			hi++
		}
		units = append(units, r.groupByOwners(ctx, lo, hi)...)
		lo = hi
	}
	return units
}

// groupByOwners sorts the shards keys[lo:hi] of one key by their owners
// and returns them as units of shards with the same owners. A shard whose
// owners are not known stays alone.
func (r *run) groupByOwners(ctx context.Context, lo, hi int) []unit {
	if hi-lo == 1 {
		owners, err := r.c.tr.Owners(ctx, r.keys[lo])
		return []unit{{lo: lo, hi: hi, alone: err == nil && r.answersAlone(ctx, r.keys[lo], owners)}}
	}
	// groups[j] is how keys[lo+j] is asked: by this node alone, or of its
	// owners (their IDs joined; "" for a shard whose owners are not known).
	type group struct {
		alone  bool
		owners string
	}
	groups := make([]group, hi-lo)
	var g errgroup.Group
	g.SetLimit(maxParallelShards)
	for j := range groups {
		g.Go(func() error {
			owners, err := r.c.tr.Owners(ctx, r.keys[lo+j])
			if err != nil || len(owners) == 0 {
				return nil // alone
			}
			if r.answersAlone(ctx, r.keys[lo+j], owners) {
				groups[j].alone = true
				return nil
			}
			ids := make([]string, len(owners))
			for k, o := range owners {
				ids[k] = string(o)
			}
			slices.Sort(ids)
			groups[j].owners = strings.Join(ids, "\x00")
			return nil
		})
	}
	_ = g.Wait() // each lookup reports through groups
	order := make([]int, hi-lo)
	for j := range order {
		order[j] = j
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case groups[a].alone && !groups[b].alone:
			return -1
		case !groups[a].alone && groups[b].alone:
			return 1
		}
		return strings.Compare(groups[a].owners, groups[b].owners)
	})
	keys := slices.Clone(r.keys[lo:hi])
	parsed := slices.Clone(r.parsed[lo:hi])
	sorted := make([]group, len(groups))
	for j, o := range order {
		r.keys[lo+j], r.parsed[lo+j], sorted[j] = keys[o], parsed[o], groups[o]
	}
	var units []unit
	for j := 0; j < len(sorted); {
		k := j + 1
		for k < len(sorted) && sorted[k] == sorted[j] && (sorted[j].alone || sorted[j].owners != "") {
			k++
		}
		units = append(units, unit{lo: lo + j, hi: lo + k, alone: sorted[j].alone})
		j = k
	}
	return units
}

// fanOut asks every unit of the plan once.
func (r *run) fanOut(ctx context.Context) {
	all := make([]int, len(r.units))
	for i := range all {
		all[i] = i
	}
	asDigest := r.digestUnits(ctx)
	digests := make([]*digest, len(r.units))
	r.forEach(all, func(i int) {
		switch {
		case r.deferred != nil && r.deferred[i]:
			r.askCounts(ctx, i)
		case asDigest[i]:
			digests[i] = r.askDigest(ctx, i, r.p.After)
		default:
			r.ask(ctx, i, r.p.After)
		}
	})
	r.rounds++
	if slices.ContainsFunc(digests, func(d *digest) bool { return d != nil }) {
		r.fetchPage(ctx, digests)
	}
}

// refill merges the answers into a page and asks again, up to maxRefills
// rounds, the shards that may hold hits the page needs.
func (r *run) refill(ctx context.Context) (*query.Result, []bool) {
	r.rescoreAnswers(ctx, r.answers)
	r.cutAnswers()
	res, complete := r.p.Merge(r.answers, r.st)
	for round := 0; round < maxRefills; round++ {
		var again []int
		for i, ok := range complete {
			if !ok && !r.failed[i] && r.answers[i] != nil && r.answers[i].Last != nil {
				again = append(again, i)
			}
		}
		if len(again) == 0 {
			break
		}
		// A span asked for its share of the page may hold far more of
		// it (or its owners' cut may be tight): ask it for twice as
		// much each round, up to the whole page, so that the rounds
		// always suffice.
		//
		// Whole, not digests first: the hits are rescored, and the
		// unit's cut falls on their recomputed scores, so that an owner
		// whose digest claimed more than its hits hold cannot keep its
		// unit asked again round after round.
		//
		// A bucket asked for its counts alone so far is asked for its
		// first hits, newest first, as many as fill the page.
		again, fresh := r.pickDeferred(again, len(res.Hits))
		for j, i := range again {
			if !fresh[j] {
				r.sizes[i] = min(2*r.sizes[i], r.p.Limit+1)
			}
		}
		r.forEach(again, func(i int) { r.ask(ctx, i, r.answers[i].Last.Sort) })
		r.rounds++
		r.rescoreAnswers(ctx, r.answers)
		r.cutAnswers()
		res, complete = r.p.Merge(r.answers, r.st)
	}
	return res, complete
}

// summary says what the search asked and whether the page is whole.
func (r *run) summary(ctx context.Context, res *query.Result, complete []bool) *query.Result {
	incomplete := false
	for i, ok := range complete {
		if !ok && !r.failed[i] {
			incomplete = true
		}
	}
	// An answer for a key that none of its prior owners gave came from
	// owners new since the membership changed, which may not hold its
	// posts yet: every prior owner left, or those alive did not answer
	// (found gone only later, busy, slow).
	for u := range r.units {
		if !r.failed[u] && !r.vouched(ctx, u) {
			incomplete = true
		}
	}
	res.Scope = query.ScopeNetwork
	res.Shards.Asked = len(r.keys)
	for u, f := range r.failed {
		if f {
			res.Shards.Failed += r.units[u].span()
		}
	}
	res.Shards.Answered = res.Shards.Asked - res.Shards.Failed
	// A page still incomplete after every refill may lack hits: say so.
	res.Partial = res.Shards.Failed > 0 || incomplete
	res.RoundTrips = r.rounds
	res.PeersAsked = len(r.asked)
	r.c.observeQuery(len(r.asked), res.Shards.Failed, res.Partial)
	return res
}

// vouched reports whether every answer unit u got came with one from a
// prior owner of each of its keys (Transport.PriorOwners).
func (r *run) vouched(ctx context.Context, u int) bool {
	un := r.units[u]
	for _, k := range r.keys[un.lo:un.hi] {
		prior, ok := r.c.tr.PriorOwners(ctx, k)
		if !ok {
			continue
		}
		for _, from := range r.answeredBy[u] {
			if !slices.ContainsFunc(from, func(p peer.ID) bool { return slices.Contains(prior, p) }) {
				r.c.log.Debug("an answer came from no prior owner of a key", "key", k, "from", from, "prior", prior)
				return false
			}
		}
	}
	return true
}

// request is the request for unit i's hits after after.
func (r *run) request(i int, after []string) Request {
	un := r.units[i]
	req := r.wire
	req.After = after
	req.Size = r.sizes[i]
	if r.whole {
		req.Keys = nil // the whole index
		return req
	}
	// The owner reads the keys before its unit (whose posts it leaves
	// out) and the unit's own, never those after: they cost bytes only.
	// Nor the other shards of the unit's own split key, nor the other
	// nodes of its own trie: the owner leaves none of their posts out
	// (query.SearchSpan), and a split term's leaves share none.
	own := r.parsed[un.lo]
	req.Keys = make([]string, 0, un.hi)
	for k, key := range r.keys[:un.lo] {
		if !r.parsed[k].ShardsOfOneKey(own) && !r.parsed[k].OfOneTrie(own) {
			req.Keys = append(req.Keys, key)
		}
	}
	req.Index = len(req.Keys)
	req.Keys = append(req.Keys, r.keys[un.lo:un.hi]...)
	if un.span() > 1 {
		req.Span = un.span()
	}
	return req
}

// askOwners sends req to the owners of unit i: this node alone for a unit
// it answers alone (unit.alone); else two for a cross-check (a whole
// answer and a digest) and for any digest (a digest and its checksum),
// every owner while the unit's owners settle, else one; and a third when
// two count different matches.
func (r *run) askOwners(ctx context.Context, i int, req *Request) ([]*Response, []peer.ID, error) {
	un := r.units[i]
	key := r.keys[un.lo] // its owners are every key's of the unit
	var resps []*Response
	var from []peer.ID
	var err error
	if un.alone {
		self := r.c.tr.Self()
		resp, err := r.c.searchOne(ctx, self, req)
		var refused *RefusedError
		switch {
		case err == nil:
			return []*Response{resp}, []peer.ID{self}, nil
		case errors.As(err, &refused) || un.span() > 1:
			// The shards of a unit this node answers alone may have
			// different other owners: no other owner can answer for all.
			return nil, nil, err
		}
		// This node failed its own request: the owners answer as usual.
	}
	n := r.replicasOf(ctx, i)
	switch {
	case req.Digest && n <= 2 && !r.c.cfg.TrustOwners:
		// A digest decides what is fetched and where its unit resumes:
		// a second owner confirms it on every page, for a checksum's
		// few dozen bytes.
		resps, from, err = r.c.searchKeyDigested(ctx, key, req)
	case r.crossCheck && n == 2:
		resps, from, err = r.c.searchKeyChecked(ctx, key, req, r.p.Sort)
	default:
		resps, from, err = r.c.searchKeyN(ctx, key, req, n)
	}
	if err == nil && r.crossCheck && len(resps) >= 2 && disagree(resps) {
		// Owners of one key hold the same posts once settled: one that
		// counts fewer matches left some out or lacks them. A third owner
		// says which; the short ones are counted and asked last for a
		// while.
		if third, p, err := r.c.searchOthers(ctx, key, req, from); err == nil {
			resps, from = append(resps, third), append(from, p)
		}
		for _, k := range r.keys[un.lo:un.hi] {
			r.c.recordShort(k, resps, from)
		}
	}
	return resps, from, err
}

// answersAlone reports whether this node answers key, whose owners are
// owners, by itself, where another owner would check it or share it: it
// owns key and holds it settled (replicasOf asks no more than two owners), it was not found
// short of key's matches within SuspectFor, and this run is not one of
// the share (Config.SelfCheckShare) that still asks another owner, which
// is how this node finds out that it is short.
func (r *run) answersAlone(ctx context.Context, key string, owners []peer.ID) bool {
	self := r.c.tr.Self()
	if r.checkSelf || r.c.cfg.TrustOwners || !slices.Contains(owners, self) {
		return false
	}
	return !r.c.suspected(key, self) && !r.c.tr.SettlingKey(ctx, key)
}

// ask asks the owners of unit i for the hits after after, and keeps their
// answer.
func (r *run) ask(ctx context.Context, i int, after []string) {
	req := r.request(i, after)
	resps, from, err := r.askOwners(ctx, i, &req)
	r.keep(i, &req, resps, from, err)
}

// keep checks the owners' answers to req for unit i and adds them to the
// unit's answer.
func (r *run) keep(i int, req *Request, resps []*Response, from []peer.ID, err error) {
	un := r.units[i]
	key := r.keys[un.lo]
	// Each owner's hits, checked, and the last hit of each answer as the
	// owner ordered it, for paging on at that owner. This node's own
	// answer is taken as it is, and another owner's copies of its hits
	// need no check under this key.
	fresh := make([][]query.Hit, len(resps))
	lasts := make([]*query.Hit, len(resps))
	self := r.c.tr.Self()
	var known map[string]bool // this node's hits, when another owner answered too
	var mine []query.Hit
	for j, resp := range resps {
		if from[j] == self {
			fresh[j] = r.c.ownHits(r.p, resp.Hits, &lasts[j])
			mine = fresh[j]
			if len(resps) == 1 {
				continue
			}
			known = make(map[string]bool, len(mine))
			for _, h := range mine {
				known[h.Post.ID] = true
			}
		}
	}
	for j, resp := range resps {
		if from[j] != self {
			fresh[j] = r.c.checkHits(r.p, resp.Hits, r.parsed[un.lo:un.hi], &lasts[j], known)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range mine {
		r.own[h.Post.ID] = h
	}
	for _, f := range from {
		r.asked[f] = true
	}
	if err != nil {
		r.c.log.Debug("shard failed", "key", key, "span", un.span(), "err", err)
		r.failed[i] = true
		if errors.As(err, new(*RefusedError)) {
			r.refusal = err
		}
		return
	}
	r.answeredBy[i] = append(r.answeredBy[i], from)
	a := r.answers[i]
	if a == nil {
		a = &query.ShardAnswer{}
		r.answers[i] = a
	}
	a.More = false
	var full []*query.Hit
	// An owner still missing posts counts fewer: keep the largest count
	// of each key.
	counts := make([]int, un.span())
	for j, resp := range resps {
		for k := range counts {
			switch {
			case k < len(resp.Counts):
				counts[k] = max(counts[k], resp.Counts[k])
			case k == 0:
				counts[k] = max(counts[k], resp.Count)
			}
		}
		a.Total = max(a.Total, resp.Total)
		a.Hits = append(a.Hits, fresh[j]...)
		if len(resp.Hits) >= req.Size {
			a.More = true
			if lasts[j] != nil {
				full = append(full, lasts[j])
			}
		}
	}
	// One owner's count only confirms what the owners said together. A
	// search of the whole index counts no key.
	if !r.whole {
		for k, n := range counts {
			r.c.confirmCount(r.keys[un.lo+k], n)
		}
	}
	r.fullLasts[i] = full
	a.Last = nil
}

// cutAnswers bounds each key's hits by the earliest last hit of the
// owners' full answers of the latest round: nothing unseen comes before
// it, and another owner's hits beyond it may have skipped a post the first
// one would have returned next, so they wait for the next round. A last
// hit counts with its recomputed score when it has one: an owner that
// claimed a high score for its last hit would otherwise cut the page to
// nothing. Call it after rescoreAnswers.
func (r *run) cutAnswers() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, a := range r.answers {
		if a == nil {
			continue
		}
		var last *query.Hit
		for _, l := range r.fullLasts[i] {
			if h, ok := r.scored[l.Post.ID]; ok {
				l = &h
			}
			if last == nil || query.Less(r.p.Sort, l, last) {
				last = l
			}
		}
		if last != nil && len(r.fullLasts[i]) > 1 {
			a.Hits = slices.DeleteFunc(a.Hits, func(h query.Hit) bool { return query.Less(r.p.Sort, last, &h) })
		}
		a.Last = last
	}
}

// bestEffort asks a bounded number of peers to search their whole index,
// for a query with no key every match holds.
func (r *run) bestEffort(ctx context.Context) (*query.Result, error) {
	phase := time.Now()
	resps, asked, failed, refused := r.c.searchPeers(ctx, FallbackPeers, &r.wire)
	if refused != nil {
		return nil, &query.RequestError{Msg: refused.Error()}
	}
	r.c.observePhase(metrics.PhaseFanout, phase)
	phase = time.Now()
	answers := make([]*query.ShardAnswer, 0, len(resps))
	var total uint64
	for _, resp := range resps {
		a := &query.ShardAnswer{More: len(resp.Hits) >= r.wire.Size}
		a.Hits = r.c.checkHits(r.p, resp.Hits, nil, &a.Last, nil)
		total = max(total, resp.Total)
		answers = append(answers, a)
	}
	r.rescoreAnswers(ctx, answers)
	res, _ := r.p.Merge(answers, r.wire.Stats)
	// The peers' matches overlap: the largest count is a lower bound.
	res.Total = max(total, uint64(len(res.Hits)))
	res.Scope = query.ScopeNetwork
	res.BestEffort = true
	res.Shards = query.ShardCounts{Asked: asked, Answered: asked - failed, Failed: failed}
	res.Partial = failed > 0
	res.RoundTrips = r.rounds + 1
	res.PeersAsked = asked
	r.c.observePhase(metrics.PhaseMerge, phase)
	r.c.observeQuery(asked, failed, res.Partial)
	return res, nil
}

// checkHits verifies the hits a shard sent, each once as it arrives:
// signature and ID, sort values, that the post is under one of the keys
// asked (none: a whole-index search), and that it matches the query. last receives the last hit whose signature verified,
// under the key and matching or not, for paging on. A hit whose ID is in
// known (this node's own answer under the same key) is the same post,
// already known to be under the key and to match.
func (c *Coordinator) checkHits(p *query.Prepared, hits []query.EncodedHit, keys []keyspace.Key, last **query.Hit, known map[string]bool) []query.Hit {
	now := c.cfg.Now()
	var out []query.Hit
	for _, h := range hits {
		hit, err := h.Check(p.Sort, now)
		if err != nil {
			c.log.Debug("dropped a hit that does not verify", "err", err)
			continue
		}
		*last = hit
		if known[hit.Post.ID] {
			out = append(out, *hit)
			continue
		}
		an := query.Analyze(hit.Post) // once, for the key and the query
		if keys != nil && !slices.ContainsFunc(keys, func(k keyspace.Key) bool { return k.ContainsWith(hit.Post, an.HasTerm) }) {
			c.log.Debug("dropped a hit outside its shard", "id", hit.Post.ID)
			continue
		}
		if !an.Matches(p.Expr) {
			c.log.Debug("dropped a hit that does not match the query", "id", hit.Post.ID)
			continue
		}
		out = append(out, *hit)
	}
	return out
}

// ownHits decodes the hits of this node's own answer. They come from its
// own index, which verified each post when it stored it, and its own
// search, which chose them under the key for the query: nothing to check
// but their decoding.
func (c *Coordinator) ownHits(p *query.Prepared, hits []query.EncodedHit, last **query.Hit) []query.Hit {
	now := c.cfg.Now()
	out := make([]query.Hit, 0, len(hits))
	for _, h := range hits {
		hit, err := h.Check(p.Sort, now)
		if err != nil {
			c.log.Warn("this node's own index returned a hit that does not verify", "err", err)
			continue
		}
		*last = hit
		out = append(out, *hit)
	}
	return out
}

// forEach runs fn for each index, at most maxParallelShards at a time.
func (r *run) forEach(is []int, fn func(int)) {
	if len(is) == 1 {
		// One unit, the most common plan, needs no goroutine of its
		// own: a new goroutine's stack grows again on every search.
		fn(is[0])
		return
	}
	var g errgroup.Group
	g.SetLimit(maxParallelShards)
	for _, i := range is {
		g.Go(func() error { fn(i); return nil })
	}
	_ = g.Wait() // fn reports through the run
}

// rescoreAnswers recomputes the scores of every hit the owners sent so
// far (query.Rescore), all keys at once: a hit's score does not depend on
// the key it came under, and one temporary index is most of the cost. It
// counts the hits whose owner scored them otherwise; hits rescored in an
// earlier round keep their score and are not counted again.
func (r *run) rescoreAnswers(ctx context.Context, answers []*query.ShardAnswer) {
	if !r.rescore {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []query.Hit
	for _, a := range answers {
		if a == nil {
			continue
		}
		for _, h := range a.Hits {
			if _, ok := r.own[h.Post.ID]; !ok {
				all = append(all, h)
			}
		}
	}
	scored, changed, err := r.p.Rescore(ctx, all, nil, 0, r.st)
	if err != nil {
		r.c.log.Warn("could not recompute the owners' scores", "err", err)
		return
	}
	if changed > 0 {
		r.c.metrics.rescored.Add(float64(changed))
		r.c.log.Debug("owners scored hits otherwise", "hits", changed)
	}
	// Even when every hit is one this node holds (all is empty), the
	// answers may carry another owner's copies of them, with the scores
	// that owner claimed: each is replaced by this node's own hit here.
	// (Returning early there let a lying owner's scores through:
	// testnet.TestGrindingOwnersOfATerm caught it.)
	byID := make(map[string]query.Hit, len(scored)+len(r.own))
	for id, h := range r.own {
		byID[id] = h
	}
	for _, h := range scored {
		byID[h.Post.ID] = h
	}
	r.scored = byID
	for _, a := range answers {
		if a == nil {
			continue
		}
		out := a.Hits[:0]
		for _, h := range a.Hits {
			if s, ok := byID[h.Post.ID]; ok {
				out = append(out, s)
			}
		}
		a.Hits = out
	}
}

// disagree reports whether the owners' answers count different numbers
// of matches.
func disagree(resps []*Response) bool {
	for _, r := range resps[1:] {
		if r.Total != resps[0].Total {
			return true
		}
	}
	return false
}

// MaxLiveKeys bounds the keys a standing search is routed to: with the R
// owners of each, the streams one follower keeps.
const MaxLiveKeys = 32

// ErrNotRoutable is returned for a standing search no key routes: it
// would have to be kept at every node.
var ErrNotRoutable = errors.New("no key routes this query")

// LiveKeys returns the keys a standing search for p is kept under: the
// keys a search for it would be routed to, cheapest leaves first. A query
// no key routes, or one routed to more than MaxLiveKeys, is refused with
// a *query.RequestError that says why.
func (c *Coordinator) LiveKeys(p *query.Prepared) ([]keyspace.Key, error) {
	leaves, routable := query.Plan(p.Expr, c.leafCost)
	var keys []string
	for _, l := range leaves {
		for _, k := range keyspace.OfField(l.Field, l.Value) {
			keys = append(keys, c.liveNodes(k, c.cfg.Now())...)
		}
	}
	if !routable || len(keys) == 0 || len(keys) > MaxLiveKeys {
		return nil, &query.RequestError{Msg: "this query cannot be followed live: " + ErrNotRoutable.Error() +
			"; add a word, #tag, from:AUTHOR or from:LABEL that every match holds (prefixes, wildcards, fuzzy terms, negations, languages and dates alone do not route)"}
	}
	return keyspace.ParseAll(keys)
}
