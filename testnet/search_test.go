package testnet_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
	"github.com/murmur-p2p/murmur/query/netsearch"
	"github.com/murmur-p2p/murmur/testnet"
)

// searchCase is one generated query and what kind it is.
type searchCase struct {
	kind string
	q    string
	sort query.Sort
}

// reference is one bleve index on disk holding every post of the network:
// what the network's answers are held to.
type reference struct {
	ix    *index.Index
	posts map[string]*post.Post
}

// searchAll pages through every match with the given page size and returns
// the IDs in order, failing on a repeated ID, a short page before the last,
// or a partial answer when partial is not allowed.
type searcher func(ctx context.Context, req query.Request) (*query.Result, error)

type searchOutcome struct {
	ids     []string
	total   uint64
	partial bool
	pages   int
	// shards sums every page's shard counts, for the failure messages.
	shards query.ShardCounts
	rounds int
}

func searchAll(t *testing.T, s searcher, req query.Request) searchOutcome {
	t.Helper()
	var out searchOutcome
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page > 10000 {
			t.Fatalf("%q: more than 10000 pages", req.Q)
		}
		res, err := s(context.Background(), req)
		if err != nil {
			t.Fatalf("%q page %d: %v", req.Q, page, err)
		}
		out.pages++
		if page == 0 {
			out.total = res.Total
		}
		out.partial = out.partial || res.Partial
		out.shards.Asked += res.Shards.Asked
		out.shards.Answered += res.Shards.Answered
		out.shards.Failed += res.Shards.Failed
		out.rounds += res.RoundTrips
		for _, h := range res.Hits {
			if seen[h.Post.ID] {
				t.Errorf("%q: post %s returned twice (page %d)", req.Q, h.Post.ID, page)
			}
			seen[h.Post.ID] = true
			out.ids = append(out.ids, h.Post.ID)
		}
		if res.NextCursor == "" {
			return out
		}
		if len(res.Hits) < req.Limit && !res.Partial {
			t.Errorf("%q: page %d has %d hits of %d and a next page", req.Q, page, len(res.Hits), req.Limit)
		}
		req.Cursor = res.NextCursor
	}
}

// newReference opens one index over posts, merged into one segment: bleve
// counts a term once per segment it appears in when it sizes the
// dictionary for BM25, so only a fully merged index scores with the true
// number of distinct terms, which the network uses. It returns that number
// too.
func newReference(t *testing.T, posts map[string]*post.Post) (*reference, uint64) {
	t.Helper()
	ref := &reference{ix: testnet.ReferenceIndex(t, posts), posts: posts}
	if err := ref.ix.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	terms, err := ref.ix.TextTerms()
	if err != nil {
		t.Fatal(err)
	}
	return ref, terms
}

func (r *reference) search(ctx context.Context, req query.Request) (*query.Result, error) {
	return query.Run(ctx, r.ix, req)
}

// letters reports whether a term is a plain word, safe to put in a query
// as it is.
func letters(term string) bool {
	if len([]rune(term)) < 2 {
		return false
	}
	for _, r := range term {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}

// generateQueries draws queries of every kind the language has from the
// posts themselves: single terms of every frequency, AND pairs of a common
// and a rarer word, phrases, OR, negation, language, author and date
// filters.
func generateQueries(posts map[string]*post.Post, n int, rng *rand.Rand) []searchCase {
	df := map[string]int{}
	var ids []string
	for id, p := range posts {
		ids = append(ids, id)
		for _, t := range index.Terms(p.Text) {
			df[t]++
		}
	}
	sort.Strings(ids)
	var rare, mid, common []string
	for t, c := range df {
		if !letters(t) {
			continue
		}
		switch {
		case c <= 3:
			rare = append(rare, t)
		case c <= 60:
			mid = append(mid, t)
		default:
			common = append(common, t)
		}
	}
	for _, s := range [][]string{rare, mid, common} {
		sort.Strings(s)
	}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	labels := map[string]bool{}
	for _, p := range posts {
		if p.Label != "" {
			labels[p.Label] = true
		}
	}
	var labelList []string
	for l := range labels {
		labelList = append(labelList, l)
	}
	sort.Strings(labelList)
	phrase := func() string {
		for {
			p := posts[ids[rng.IntN(len(ids))]]
			toks := index.Tokens(p.Text)
			if len(toks) < 3 {
				continue
			}
			i := rng.IntN(len(toks) - 1)
			a, b := toks[i], toks[i+1]
			if letters(a.Term) && letters(b.Term) && b.Position == a.Position+1 {
				return `"` + a.Term + " " + b.Term + `"`
			}
		}
	}
	sorts := []query.Sort{query.SortTop, query.SortLatest}
	kinds := []struct {
		name string
		gen  func() string
	}{
		{"rare", func() string { return pick(rare) }},
		{"mid", func() string { return pick(mid) }},
		{"common", func() string { return pick(common) }},
		{"and", func() string { return pick(common) + " " + pick(mid) }},
		{"and-rare", func() string { return pick(common) + " " + pick(rare) }},
		{"phrase", phrase},
		{"or", func() string { return pick(mid) + " OR " + pick(mid) }},
		{"not", func() string { return pick(mid) + " -" + pick(common) }},
		{"lang", func() string {
			langs := []string{"en", "de", "es", "it", "ru", "pl", "cs", "pt", "zh"}
			return pick(common) + " lang:" + langs[rng.IntN(len(langs))]
		}},
		{"from", func() string { return "from:" + pick(labelList) + " " + pick(common) }},
		{"from-only", func() string { return "from:" + pick(labelList) }},
		{"date", func() string {
			d := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(24*200)) * time.Hour)
			return pick(common) + " since:" + d.Format("2006-01-02") + " until:" + d.AddDate(0, 1, 0).Format("2006-01-02")
		}},
	}
	out := make([]searchCase, 0, n)
	for i := 0; i < n; i++ {
		k := kinds[i%len(kinds)]
		out = append(out, searchCase{kind: k.name, q: k.gen(), sort: sorts[(i/len(kinds))%2]})
	}
	return out
}

// TestNetworkSearchMatchesOneIndex is the recall and ranking proof of
// network search: a 12-node network holding imported fortunes, once repair
// has brought every key to its R owners, answers
// generated queries, from every node, with exactly the matches one bleve
// index over the same posts returns, pages through them with the cursor
// returning each once, and ranks the top 10 as that index does. Then 3
// nodes are killed: recall stays at 99% or more at once, answers that miss
// shards say so, and recall is back to 100% after repair.
func TestNetworkSearchMatchesOneIndex(t *testing.T) {
	posts, queries, pageSize := 20000, 300, 100
	if raceEnabled {
		posts, queries, pageSize = 1500, 96, 25
	}
	if testing.Short() {
		posts, queries = 600, 48
	}
	entries := sample(t, posts)
	net := testnet.Start(t, 12, testnet.Options{})
	// Three importers: three node keys sign posts, three authors.
	start := time.Now()
	third := len(entries) / 3
	for i, nd := range []int{0, 5, 9} {
		chunk := entries[i*third : min((i+1)*third, len(entries))]
		if i == 2 {
			chunk = entries[i*third:]
		}
		res := importEntries(t, net.Nodes[nd], chunk)
		if res.Accepted != len(chunk) {
			t.Fatalf("import through node %d: %d of %d accepted: %+v", nd, res.Accepted, len(chunk), res)
		}
	}
	t.Logf("imported %d posts into 12 nodes in %v", len(entries), time.Since(start).Round(time.Millisecond))
	all := net.Posts()
	if len(all) != len(entries) {
		t.Fatalf("network holds %d distinct posts, imported %d", len(all), len(entries))
	}
	// A write returns once W owners hold it; the rest get it from repair.
	// Reads ask one owner, so the answers are exact once every key is at
	// its R owners.
	want := map[string][]string{}
	for _, p := range all {
		for _, k := range keyspace.Keys(p) {
			want[k] = append(want[k], p.ID)
		}
	}
	start = time.Now()
	net.WaitFor("every key at its 3 owners", 3*time.Minute, func() bool {
		return len(short(copiesAtOwners(t, net.Nodes[11], want), want, 3)) == 0
	})
	t.Logf("every key at its 3 owners %v after the import", time.Since(start).Round(time.Millisecond))
	ref, refTerms := newReference(t, all)
	for _, nd := range []*testnet.Member{net.Nodes[0], net.Nodes[7]} {
		// Totals are reused for a while once gathered, and a gathering that
		// missed peers (busy with repair after the import, they refuse a
		// summary) is an estimate: CI saw node 0 report 5,002 posts of
		// 20,000. Gather anew until every peer answered; those figures
		// must be exact.
		var tot netsearch.NetworkTotals
		net.WaitFor(fmt.Sprintf("node %d hears every peer's summary", nd.Index), time.Minute, func() bool {
			nd.Searches().InvalidateTotals()
			tot, _ = nd.Searches().Totals(context.Background())
			return tot.Answered == tot.Asked
		})
		if tot.Posts != uint64(len(all)) || tot.Terms != refTerms {
			t.Errorf("node %d: the network's totals are %d posts and %d terms; one index holds %d and %d (%+v)", nd.Index, tot.Posts, tot.Terms, len(all), refTerms, tot)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	cases := generateQueries(all, queries, rng)

	// Healthy network: exact recall from every node, paging included.
	var overlapSum float64
	var overlapN int
	byKind := map[string]int{}
	for i, c := range cases {
		nd := net.Nodes[i%len(net.Nodes)]
		req := query.Request{Q: c.q, Sort: c.sort, Limit: pageSize}
		want := searchAll(t, ref.search, req)
		got := searchAll(t, nd.Search, req)
		if got.partial {
			t.Errorf("%s %q from node %d: partial on a healthy network; searches served by outcome, all nodes: %v", c.kind, c.q, nd.Index, servedOutcomes(net))
		}
		if !testkit.SameSet(got.ids, want.ids) {
			t.Errorf("%s %q (%s) from node %d: %d matches, one index has %d; missing %v, extra %v; %s",
				c.kind, c.q, c.sort, nd.Index, len(got.ids), len(want.ids), firstN(minus(want.ids, got.ids), 5), firstN(minus(got.ids, want.ids), 5),
				ownersSeen(net, nd, all, minus(want.ids, got.ids)))
			continue
		}
		if got.total != want.total {
			t.Errorf("%s %q: total %d, one index says %d", c.kind, c.q, got.total, want.total)
		}
		byKind[c.kind]++
		if c.sort == query.SortLatest && !slices.Equal(got.ids, want.ids) {
			t.Errorf("%s %q: latest order differs from one index", c.kind, c.q)
		}
		if c.sort == query.SortTop && len(want.ids) > 0 {
			top := func(ids []string) []string { return ids[:min(10, len(ids))] }
			g, w := top(got.ids), top(want.ids)
			overlapSum += float64(len(w)-len(minus(w, g))) / float64(len(w))
			overlapN++
			if (c.kind == "rare" || c.kind == "mid" || c.kind == "common") && !slices.Equal(g, w) {
				tot, _ := nd.Searches().Totals(context.Background())
				t.Errorf("%s %q: top-10 order %v, one index %v; node %d's network totals %+v, one index %d posts and %d terms",
					c.kind, c.q, g, w, nd.Index, tot, len(all), refTerms)
			}
		}
	}
	overlap := overlapSum / float64(max(overlapN, 1))
	t.Logf("healthy: %d queries exact (%v); mean top-10 overlap %.3f over %d top queries", len(cases), byKind, overlap, overlapN)
	if overlap < 0.9 {
		t.Errorf("mean top-10 overlap %.3f, want at least 0.9", overlap)
	}
	if t.Failed() {
		return
	}

	// Every node gives the same first page.
	for _, c := range cases[:12] {
		req := query.Request{Q: c.q, Sort: c.sort, Limit: 20}
		first, err := net.Nodes[0].Search(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, nd := range net.Nodes[1:] {
			res, err := nd.Search(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(res), ids(first)) {
				t.Errorf("%q: node %d's first page differs from node 0's: %s", c.q, nd.Index, pageDiff(first, res))
			}
		}
	}

	// Churn: three nodes die at once. Replicas answer.
	for _, i := range []int{2, 6, 10} {
		net.Kill(i)
	}
	churn := func(label string) (recall float64, partialOK bool) {
		var found, wanted int
		partialOK = true
		alive := net.Alive()
		for i, c := range cases {
			nd := alive[i%len(alive)]
			req := query.Request{Q: c.q, Sort: c.sort, Limit: pageSize}
			want := searchAll(t, ref.search, req)
			got := searchAll(t, nd.Search, req)
			missing := len(minus(want.ids, got.ids))
			wanted += len(want.ids)
			found += len(want.ids) - missing
			if missing > 0 && !got.partial {
				partialOK = false
				t.Logf("%s: %q (sort %s) on node %d misses %d of %d matches without saying partial: total %d, the reference's %d; %d pages, %d rounds, shards %+v; settling %v",
					label, c.q, c.sort, nd.Index, missing, len(want.ids), got.total, want.total, got.pages, got.rounds, got.shards, nd.Net().Settling())
			}
		}
		return float64(found) / float64(max(wanted, 1)), partialOK
	}
	recall, partialOK := churn("3 of 12 killed")
	t.Logf("3 of 12 killed, at once: recall %.4f", recall)
	if recall < 0.99 {
		t.Errorf("recall with 3 of 12 nodes killed: %.4f, want at least 0.99", recall)
	}
	if !partialOK {
		t.Errorf("an answer missing matches did not say partial")
	}
	// Repair: the survivors copy every key to its new owners.
	net.WaitRouting(60 * time.Second)
	for _, nd := range net.Alive() {
		nd.Net().TriggerRepair()
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		recall, _ = churn("after repair")
		if recall == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Second)
		for _, nd := range net.Alive() {
			nd.Net().TriggerRepair()
		}
	}
	t.Logf("3 of 12 killed, after repair: recall %.4f", recall)
	if recall != 1 {
		t.Errorf("recall after repair: %.4f, want 1", recall)
	}
}

// ownersSeen tells, for the keys of the first missing posts, whether the
// querier names their true owners and whether those hold them: the
// difference between a querier that asked the wrong nodes and owners that
// lack posts.
func ownersSeen(net *testnet.Net, querier *testnet.Member, byID map[string]*post.Post, missing []string) string {
	var notes []string
	for _, id := range missing[:min(2, len(missing))] {
		p := byID[id]
		if p == nil {
			continue
		}
		for _, k := range keyspace.Keys(p) {
			truth := trueOwners(net, k, p2p.DefaultReplicas)
			got, err := querier.Net().Owners(context.Background(), k)
			holders := 0
			for _, nd := range net.Alive() {
				if slices.Contains(truth, nd.Net().ID()) {
					if ids, err := nd.Net().HeldUnder(context.Background(), k); err == nil && slices.Contains(ids, id) {
						holders++
					}
				}
			}
			if err != nil || !slices.Equal(got, truth) || holders < len(truth) {
				notes = append(notes, fmt.Sprintf("%s: querier names %v (err %v), true owners %v of which %d hold %s", k, got, err, truth, holders, id[:8]))
			}
		}
	}
	return fmt.Sprintf("querier's routing table %d peers, settling %v; %v", querier.Net().RoutingTableSize(), querier.Net().Settling(), notes)
}

// pageDiff tells how two pages of one query differ: in which hits, in
// their scores, or in partial answers and totals.
func pageDiff(a, b *query.Result) string {
	scores := func(r *query.Result) map[string]float64 {
		m := make(map[string]float64, len(r.Hits))
		for _, h := range r.Hits {
			m[h.Post.ID] = h.Score
		}
		return m
	}
	sa, sb := scores(a), scores(b)
	var rescored []string
	for id, s := range sa {
		if t, ok := sb[id]; ok && s != t {
			rescored = append(rescored, fmt.Sprintf("%s %g/%g", id, s, t))
		}
	}
	slices.Sort(rescored)
	return fmt.Sprintf("total %d/%d, partial %v/%v, statistics (posts, terms, frequencies) %v/%v, only in the first %v, only in the second %v, scores differ %v",
		a.Total, b.Total, a.Partial, b.Partial, cursorStats(a), cursorStats(b), firstN(minus(ids(a), ids(b)), 5), firstN(minus(ids(b), ids(a)), 5), firstN(rescored, 5))
}

// cursorStats reads the statistics a page was scored with from its cursor.
func cursorStats(r *query.Result) []uint64 {
	b, err := base64.RawURLEncoding.DecodeString(r.NextCursor)
	if err != nil {
		return nil
	}
	var c struct {
		S []uint64 `json:"s"`
	}
	if json.Unmarshal(b, &c) != nil {
		return nil
	}
	return c.S
}

func ids(r *query.Result) []string {
	out := make([]string, len(r.Hits))
	for i, h := range r.Hits {
		out[i] = h.Post.ID
	}
	return out
}

// minus returns the elements of a not in b.
func minus(a, b []string) []string {
	in := make(map[string]bool, len(b))
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}

func firstN(s []string, n int) string {
	if len(s) > n {
		return fmt.Sprint(s[:n]) + "..."
	}
	return strings.Join(s, " ")
}

// servedOutcomes sums murmur_search_served_total by outcome over the live
// nodes, to tell a refused search from a slow one.
func servedOutcomes(net *testnet.Net) map[string]float64 {
	out := map[string]float64{}
	for _, nd := range net.Alive() {
		for _, o := range []string{"ok", "error", "rate_limited", "rejected"} {
			out[o] += metrics.Value(nd.Metrics(), metrics.SearchServed, "outcome", o)
		}
	}
	return out
}
