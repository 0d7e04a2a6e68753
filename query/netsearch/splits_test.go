package netsearch

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
)

// splitNet is a fake network where the term "heron" is split by hand
// (docs/split-keys.md, step 2): its posts are stored under the nodes of
// its trie, over the months they were written in, and the root's owners
// send the split's record with their counts.
type splitNet struct {
	fn     *fakeNet
	posts  []*post.Post
	record keyspace.Split
}

const splitTerm = "heron"

// Hand-offs in progress in a splitNet.
const (
	settled = "settled" // every heron posting at its leaf
	moving  = "moving"  // the newest bucket splits from one bit to two
	rooted  = "rooted"  // the root hands its postings down to the buckets
)

// newSplitNet signs n posts every apart (eight hours: about four months
// for 360) and places them: the newest bucket's leaves are two bits deep, the
// one before's one bit, the others whole. A node that hands its postings
// down keeps them all until it is done, and two in three are at their
// leaf already. One of the root's three owners sends no record, as an
// owner that has not learnt of the split yet.
func newSplitNet(t *testing.T, n int, every time.Duration, handOff string) *splitNet {
	t.Helper()
	key := testkit.Key(t)
	now := time.Now()
	var posts []*post.Post
	for i := range n {
		text := fmt.Sprintf("the %s and the %s near %s %d", texts[i%len(texts)], texts[(i/3)%len(texts)], texts[(i*7)%len(texts)], i%5)
		p, err := post.Sign(key, post.Draft{Text: text, CreatedAt: now.Add(-time.Duration(i) * every)}, now)
		if err != nil {
			t.Fatal(err)
		}
		posts = append(posts, p)
	}
	root := keyspace.RootNode(keyspace.ClassTerm, splitTerm)
	rootKey := root.String()
	var months []string
	for _, p := range posts {
		if m := keyspace.MonthOf(p.CreatedAt); !slices.Contains(months, m) {
			months = append(months, m)
		}
	}
	slices.Sort(months)
	depth := map[string]int{}
	newest := months[len(months)-1]
	depth[newest] = 2
	if len(months) > 1 {
		depth[months[len(months)-2]] = 1
	}
	sn := &splitNet{posts: posts}
	counts := map[string]int{}
	nodesOf := map[string][]string{}
	term := keyspace.Key{Class: keyspace.ClassTerm, Value: splitTerm}
	for i, p := range posts {
		if !term.Contains(p) {
			continue
		}
		m := keyspace.MonthOf(p.CreatedAt)
		counts[m]++
		leaf := keyspace.Node{Class: keyspace.ClassTerm, Value: splitTerm, Month: m, Bits: keyspace.PrefixOf(p.ID, depth[m])}
		up := leaf
		switch {
		case handOff == rooted:
			up = root
			sn.record.Residual++
		case handOff == moving && m == newest:
			up.Bits = up.Bits[:len(up.Bits)-1]
		}
		nodesOf[p.ID] = []string{up.String()}
		if up != leaf && i%3 != 0 {
			nodesOf[p.ID] = append(nodesOf[p.ID], leaf.String())
		}
	}
	for _, m := range months {
		sn.record.Buckets = append(sn.record.Buckets, keyspace.Bucket{Month: m, Count: counts[m], Depth: depth[m], Moving: handOff == moving && m == newest})
	}
	if err := sn.record.Check(); err != nil {
		t.Fatal(err)
	}
	// 16 nodes: each holds some of the posts for their other keys, not
	// nearly all of them.
	sn.fn = newFakeNetPlaced(t, 16, 3, posts, func(p *post.Post) []string {
		keys := keyspace.Keys(p)
		if nodes, ok := nodesOf[p.ID]; ok {
			keys = slices.DeleteFunc(keys, func(k string) bool { return k == rootKey })
			keys = append(keys, nodes...)
		}
		return keys
	})
	for j, o := range sn.fn.owners(rootKey) {
		if j < 2 {
			sn.fn.node(o).splits = map[string]keyspace.Split{rootKey: sn.record}
		}
	}
	return sn
}

// keysAsked are the distinct keys of the heron trie the fake network was
// asked to search, since the last call.
func (sn *splitNet) keysAsked() []string {
	var out []string
	for _, nd := range sn.fn.nodes {
		nd.mu.Lock()
		for k := range nd.keysAsked {
			if kk, err := keyspace.Parse(k); err == nil && kk.Value == splitTerm && !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
		nd.keysAsked = nil
		nd.mu.Unlock()
	}
	slices.Sort(out)
	return out
}

// TestASplitTermIsAskedAtItsLeaves: a term split by hand over four months
// of posts is found whole by a querier that learns the split from the
// root's owners' counts: every match, in the one index's order, with the
// one index's totals, for queries sorted by score and by date, paged to
// the end, before and during hand-offs. A date range asks only the
// buckets it overlaps. Without the records, the querier asks the root,
// which holds none of the posts, and misses those its owners do not hold
// for other keys.
func TestASplitTermIsAskedAtItsLeaves(t *testing.T) {
	for _, handOff := range []string{settled, moving, rooted} {
		t.Run(handOff, func(t *testing.T) {
			sn := newSplitNet(t, 360, 8*time.Hour, handOff)
			ref := reference(t, sn.posts)
			c := New(sn.fn.transport(0), Config{})
			defer c.Close()
			ctx := context.Background()
			// The split term counts once among the network's distinct
			// terms, as in one index; while the root hands its postings
			// down, its own key counts it once more.
			tot, _ := c.Totals(ctx)
			refTerms, err := ref.TextTerms()
			if err != nil {
				t.Fatal(err)
			}
			if tot.Posts != uint64(len(sn.posts)) || tot.Terms != refTerms && !(handOff == rooted && tot.Terms == refTerms+1) {
				t.Errorf("totals %+v; one index holds %d posts and %d terms", tot, len(sn.posts), refTerms)
			}
			months := sn.record.Buckets
			second := months[len(months)-2].Month + "-01"
			last := months[len(months)-1].Month + "-01"
			for _, q := range []string{splitTerm, splitTerm + " tide", splitTerm + " OR kelp", `"the ` + splitTerm + `"`, splitTerm + " since:" + last, splitTerm + " since:" + second + " until:" + last} {
				for _, s := range []query.Sort{query.SortTop, query.SortLatest} {
					got, first := pageThrough(t, c, query.Request{Q: q, Sort: s, Limit: 7})
					wres, err := query.Run(ctx, ref, query.Request{Q: q, Sort: s, Limit: 1000})
					if err != nil {
						t.Fatal(err)
					}
					want := ids(wres.Hits)
					if !testkit.SameSet(got, want) {
						t.Errorf("%q %s: %d matches, one index %d", q, s, len(got), len(want))
						continue
					}
					if first.Total != wres.Total {
						t.Errorf("%q %s: total %d, one index %d", q, s, first.Total, wres.Total)
					}
					if top := min(10, len(want)); s == query.SortLatest && !slices.Equal(got, want) || s == query.SortTop && !slices.Equal(got[:top], want[:top]) {
						t.Errorf("%q %s: order %v, one index %v", q, s, got[:top], want[:top])
					}
				}
			}

			// A query on the newest month asks its bucket's leaves alone,
			// or the nodes that hand postings down to them. Every key is
			// asked on the wire: a querier that owns every key of the
			// plan would otherwise search its whole index with none
			// (run.whole): with two leaves, about one run in 28 (3/16 squared).
			onWire := New(sn.fn.transport(0), Config{SelfCheckShare: 1})
			defer onWire.Close()
			sn.keysAsked()
			if _, err := onWire.Search(ctx, query.Request{Q: splitTerm + " since:" + last, Limit: 7}); err != nil {
				t.Fatal(err)
			}
			newest := keyspace.Node{Class: keyspace.ClassTerm, Value: splitTerm, Month: months[len(months)-1].Month}
			bits := map[string][]string{settled: {"00", "01", "10", "11"}, moving: {"0", "1"}}[handOff]
			want := []string{newest.Root().String()}
			if bits != nil {
				want = nil
			}
			for _, b := range bits {
				n := newest
				n.Bits = b
				want = append(want, n.String())
			}
			slices.Sort(want)
			if got := sn.keysAsked(); !slices.Equal(got, want) {
				t.Errorf("since the newest month, the keys asked are %v, want %v", got, want)
			}
		})
	}

	// Without the records, the querier asks the root's owners, who hold
	// the heron posts they hold for other keys alone, and misses the rest.
	sn := newSplitNet(t, 360, 8*time.Hour, settled)
	ref := reference(t, sn.posts)
	want, err := query.Run(context.Background(), ref, query.Request{Q: splitTerm, Limit: 7})
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range sn.fn.nodes {
		nd.splits = nil
	}
	c := New(sn.fn.transport(0), Config{})
	defer c.Close()
	res, err := c.Search(context.Background(), query.Request{Q: splitTerm, Limit: 7})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total >= want.Total {
		t.Fatalf("with no split records, a search of the split term found %d matches, as many as one index's %d", res.Total, want.Total)
	}
	t.Logf("with no split records: %d matches of %d", res.Total, want.Total)
}

// TestALiarCannotInflateTermsWithSplitNames: split terms count among the
// network's terms by name, as hot terms do, and a name counts only once a
// majority of its group's members report it. A liar that adds made-up
// split terms to its groups changes nothing; one that names more than a
// group may is refused.
func TestALiarCannotInflateTermsWithSplitNames(t *testing.T) {
	sn := newSplitNet(t, 120, 8*time.Hour, settled)
	c := New(sn.fn.transport(0), Config{})
	defer c.Close()
	ctx := context.Background()
	honest := c.Refresh(ctx)
	liar := sn.fn.nodes[3]
	names := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("made-up-%d", i)
		}
		return out
	}
	liar.lie = func(s *Summary) {
		for i := range s.Groups {
			s.Groups[i].Hot = append(s.Groups[i].Hot, names(MaxGroupSplitTerms)...)
		}
	}
	if lied := c.Refresh(ctx); lied.Terms != honest.Terms {
		t.Errorf("made-up split terms moved the terms from %d to %d", honest.Terms, lied.Terms)
	}
	liar.lie = func(s *Summary) {
		for i := range s.Groups {
			s.Groups[i].Hot = append(s.Groups[i].Hot, names(MaxGroupSplitTerms+1)...)
		}
	}
	if lied := c.Refresh(ctx); lied.Terms != honest.Terms || lied.Implausible == 0 {
		t.Errorf("a summary naming %d split terms a group: %+v, want the honest %d terms and the liar refused", MaxGroupSplitTerms+1, lied, honest.Terms)
	}
}

// TestALyingRootOwnerHidesNoPost: one of a split root's three owners
// sends a record that would send planners where the posts are not: the
// root after its hand-down, leaves deeper than the buckets', nodes one bit
// up that dropped theirs, or whole buckets. The planner takes the record
// the owners agree on (keyspace.Agree), and every page is the one index's:
// with two honest records beside the lie, and with one, the third owner
// having none yet, where the nodes each record names are weighed by what
// their owners hold.
func TestALyingRootOwnerHidesNoPost(t *testing.T) {
	for _, honest := range []int{2, 1} {
		t.Run(fmt.Sprintf("%d honest records", honest), func(t *testing.T) { lyingRootOwner(t, honest) })
	}
}

func lyingRootOwner(t *testing.T, honest int) {
	for name, lie := range map[string]func(*keyspace.Split){
		"a hand-down that never ends": func(s *keyspace.Split) { s.Residual = 1 },
		"deeper leaves": func(s *keyspace.Split) {
			for i := range s.Buckets {
				s.Buckets[i].Depth = keyspace.MaxSplitDepth
			}
		},
		"buckets moving": func(s *keyspace.Split) {
			for i := range s.Buckets {
				s.Buckets[i].Depth, s.Buckets[i].Moving = max(1, s.Buckets[i].Depth), true
			}
		},
		"whole buckets": func(s *keyspace.Split) {
			for i := range s.Buckets {
				s.Buckets[i].Depth = 0
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			sn := newSplitNet(t, 240, 8*time.Hour, settled)
			rootKey := keyspace.RootNode(keyspace.ClassTerm, splitTerm).String()
			owners := sn.fn.owners(rootKey)
			liar := sn.record
			liar.Buckets = slices.Clone(sn.record.Buckets)
			lie(&liar)
			if err := liar.Check(); err != nil {
				t.Fatal(err)
			}
			sn.fn.node(owners[2]).splits = map[string]keyspace.Split{rootKey: liar}
			if honest == 1 {
				sn.fn.node(owners[1]).splits = nil
			}
			ref := reference(t, sn.posts)
			c := New(sn.fn.transport(0), Config{})
			defer c.Close()
			for _, s := range []query.Sort{query.SortTop, query.SortLatest} {
				got, first := pageThrough(t, c, query.Request{Q: splitTerm, Sort: s, Limit: 10})
				wres, err := query.Run(context.Background(), ref, query.Request{Q: splitTerm, Sort: s, Limit: 1000})
				if err != nil {
					t.Fatal(err)
				}
				if want := ids(wres.Hits); !testkit.SameSet(got, want) || first.Total != wres.Total {
					t.Errorf("%s: %d matches (total %d), one index %d (total %d)", s, len(got), first.Total, len(want), wres.Total)
				}
			}
		})
	}
}

// traffic is what the fake network was asked since the last call: the
// keys of the heron trie asked for hits and for counts alone, and the
// bytes of every search answer.
func (sn *splitNet) traffic() (hitKeys, countKeys []string, sent int) {
	for _, nd := range sn.fn.nodes {
		nd.mu.Lock()
		sent += nd.sent
		nd.sent = 0
		for k := range nd.countsAsked {
			if kk, err := keyspace.Parse(k); err == nil && kk.Value == splitTerm && !slices.Contains(countKeys, k) {
				countKeys = append(countKeys, k)
			}
		}
		nd.countsAsked = nil
		nd.mu.Unlock()
	}
	slices.Sort(countKeys)
	return sn.keysAsked(), countKeys, sent
}

// leavesOf are the leaves of the heron trie in the given months, as the
// split's record lists them.
func (sn *splitNet) leavesOf(months map[string]bool) []string {
	root := keyspace.RootNode(keyspace.ClassTerm, splitTerm)
	var out []string
	for _, n := range sn.record.Leaves(root, time.Time{}, time.Time{}) {
		if months[n.Month] {
			out = append(out, n.String())
		}
	}
	slices.Sort(out)
	return out
}

// TestALatestPageAsksTheNewestBuckets: a query on a split term sorted by
// date asks the newest buckets whose postings fill the page for hits, and
// the older ones for their counts alone, so that its total is still the
// network's. A query whose newest buckets hold fewer matches than their
// postings asks the next ones, newest first. Owners of the version before,
// which refuse a request for counts alone, are asked for hits. Every
// page is the one index's.
func TestALatestPageAsksTheNewestBuckets(t *testing.T) {
	sn := newSplitNet(t, 720, 12*time.Hour, settled) // a year
	ref := reference(t, sn.posts)
	ctx := context.Background()
	const limit = 10
	search := func(cfg Config, q string) *query.Result {
		t.Helper()
		c := New(sn.fn.transport(0), cfg)
		defer c.Close()
		res, err := c.Search(ctx, query.Request{Q: q, Sort: query.SortLatest, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		want, err := query.Run(ctx, ref, query.Request{Q: q, Sort: query.SortLatest, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(res.Hits), ids(want.Hits)) || res.Total != want.Total || res.Partial {
			t.Errorf("%q latest: %v of %d (partial %v), one index %v of %d", q, ids(res.Hits), res.Total, res.Partial, ids(want.Hits), want.Total)
		}
		return res
	}
	var months []string // newest first
	for i := len(sn.record.Buckets) - 1; i >= 0; i-- {
		months = append(months, sn.record.Buckets[i].Month)
	}
	// The newest months whose postings fill a page, by the record.
	eager := map[string]bool{}
	for i, sum := 0, 0; sum < limit+1; i++ {
		eager[months[i]] = true
		sum += sn.record.Buckets[len(months)-1-i].Count
	}
	older := map[string]bool{}
	for _, m := range months {
		older[m] = !eager[m]
	}

	// No hedged request adds its answer's bytes, however slow the machine.
	sn.traffic()
	search(Config{EveryBucketAtOnce: true, HedgeAfter: time.Minute}, splitTerm)
	allHits, allCounts, allSent := sn.traffic()
	search(Config{HedgeAfter: time.Minute}, splitTerm)
	hitKeys, countKeys, sent := sn.traffic()
	if want := sn.leavesOf(eager); !slices.Equal(hitKeys, want) {
		t.Errorf("a first page by date asked %v for hits, want the newest buckets' leaves %v", hitKeys, want)
	}
	if want := sn.leavesOf(older); !slices.Equal(countKeys, want) {
		t.Errorf("a first page by date asked %v for counts, want the older buckets' leaves %v", countKeys, want)
	}
	if len(allCounts) != 0 || len(allHits) != len(hitKeys)+len(countKeys) {
		t.Errorf("every bucket at once asked %d keys for hits and %d for counts, want all %d for hits", len(allHits), len(allCounts), len(hitKeys)+len(countKeys))
	}
	// The bytes move with the posts' IDs (which leaves the querier owns
	// and answers itself): newest first sent 0.19 to 0.57 of every
	// bucket at once's in 16 runs.
	if sent >= allSent {
		t.Errorf("newest buckets first sent %d bytes, every bucket at once %d: want fewer", sent, allSent)
	}
	t.Logf("first page of %q by date: %d keys asked for hits and %d bytes, against %d keys and %d bytes for every bucket at once",
		splitTerm, len(hitKeys), sent, len(allHits), allSent)

	// The phrase matches about two in three of heron's posts: where the
	// newest buckets' postings fill the page, their matches may not, and
	// the next buckets are asked, newest first, as many as the page needs:
	// the months down to that of the page's last match and the one after.
	q := `"the ` + splitTerm + `"`
	search(Config{}, q)
	hitKeys, _, _ = sn.traffic()
	asked := map[string]bool{}
	for _, k := range hitKeys {
		n, err := keyspace.ParseNode(k)
		if err != nil {
			t.Fatal(err)
		}
		asked[n.Month] = true
	}
	all, err := query.Run(ctx, ref, query.Request{Q: q, Sort: query.SortLatest, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	needed := map[string]bool{}
	for _, h := range all.Hits[:min(limit+1, len(all.Hits))] {
		needed[keyspace.MonthOf(h.Post.CreatedAt)] = true
	}
	if !maps.Equal(asked, needed) {
		t.Errorf("%q latest asked the buckets of %v for hits, want those of the page and the hit after it, %v", q, asked, needed)
	}
	if len(needed) <= len(eager) {
		t.Errorf("%q: the page's matches fill it from the months whose postings do (%d months): the test shows no second round", q, len(needed))
	}

	// Owners of the version before refuse a search for counts alone: they
	// are asked for hits.
	for _, nd := range sn.fn.nodes {
		nd.sizeZeroRefused = true
	}
	search(Config{}, splitTerm)
	if _, countKeys, _ := sn.traffic(); len(countKeys) == 0 {
		t.Error("no key was asked for its counts alone: the test shows nothing of owners that refuse it")
	}
}

// TestAPostAheadOfTheClockStaysInItsMonth: a post dated a few minutes into
// a month, received by an owner whose clock is still in the month before,
// is filed by the trie under its own month (keyspace.MonthOf), and the
// owner's index ranks it as received, but no earlier than that month's
// start: asked for the month's leaf, the owner finds it, and asked for the
// month before, it does not.
func TestAPostAheadOfTheClockStaysInItsMonth(t *testing.T) {
	month := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	received := month.Add(-3 * time.Minute)
	p, err := post.Sign(testkit.Key(t), post.Draft{Text: "a " + splitTerm + " at midnight", CreatedAt: month.Add(5 * time.Minute)}, received)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := index.Open(index.Config{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return received }})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	ctx := context.Background()
	if _, err := ix.Put(ctx, p); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		month string
		want  uint64
	}{{"2026-12", 1}, {"2026-11", 0}} {
		leaf := keyspace.Node{Class: keyspace.ClassTerm, Value: splitTerm, Month: c.month}
		for _, sort := range []query.Sort{query.SortTop, query.SortLatest} {
			res, err := Answer(ctx, ix, &Request{Query: splitTerm, Sort: string(sort), Keys: []string{leaf.String()}, Size: 10})
			if err != nil {
				t.Fatal(err)
			}
			if res.Total != c.want || len(res.Hits) != int(c.want) {
				t.Errorf("%s asked for %s by %s: %d matches, %d hits; want %d", p.ID, leaf, sort, res.Total, len(res.Hits), c.want)
			}
			if sort == query.SortLatest && len(res.Hits) == 1 {
				if _, err := res.Hits[0].Check(query.SortLatest, received); err != nil {
					t.Errorf("the owner's hit fails a querier's check: %v", err)
				}
			}
		}
	}
}

// TestAPageByScoreAsksEachLeafForItsShare: a first page sorted by score
// on a term split over a year asks each leaf of its trie for about its
// share of the page, by the record's counts, not for a whole page each,
// and a leaf that holds more of the page than its share is asked again:
// every page, total and order is the one index's, both ways, for the term
// alone, with another term, and paged to the end.
func TestAPageByScoreAsksEachLeafForItsShare(t *testing.T) {
	sn := newSplitNet(t, 720, 12*time.Hour, settled) // a year
	ref := reference(t, sn.posts)
	ctx := context.Background()
	postsSent := func() int {
		n := 0
		for _, nd := range sn.fn.nodes {
			nd.mu.Lock()
			n += nd.posts
			nd.posts = 0
			nd.mu.Unlock()
		}
		return n
	}
	// Whole answers only, and no hedged request adds its answer.
	cfgs := map[string]Config{
		"a page each": {EveryBucketAtOnce: true, NoDigestsFirst: true, HedgeAfter: time.Minute},
		"its share":   {NoDigestsFirst: true, HedgeAfter: time.Minute},
	}
	sent := map[string]int{}
	for name, cfg := range cfgs {
		c := New(sn.fn.transport(0), cfg)
		for _, q := range []string{splitTerm, splitTerm + " tide", splitTerm + " OR kelp"} {
			want, err := query.Run(ctx, ref, query.Request{Q: q, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			postsSent()
			res, err := c.Search(ctx, query.Request{Q: q, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if q == splitTerm {
				sent[name] = postsSent()
				t.Logf("%s: the first page of %q took %d posts in %d rounds", name, q, sent[name], res.RoundTrips)
			}
			top := min(10, len(want.Hits))
			if got := ids(res.Hits); !slices.Equal(got, ids(want.Hits[:top])) || res.Total != want.Total || res.Partial {
				t.Errorf("%s, %q: first page %v of %d (partial %v), one index %v of %d", name, q, got, res.Total, res.Partial, ids(want.Hits[:top]), want.Total)
			}
			if name == "a page each" {
				continue // as murmur did before: the first page is the comparison
			}
			if got, _ := pageThrough(t, c, query.Request{Q: q, Limit: 20}); !testkit.SameSet(got, ids(want.Hits)) {
				t.Errorf("%s, %q: paged to the end, %d matches, one index %d", name, q, len(got), len(want.Hits))
			}
		}
		c.Close()
	}
	if leaves := len(sn.record.Leaves(keyspace.RootNode(keyspace.ClassTerm, splitTerm), time.Time{}, time.Time{})); leaves < 12 {
		t.Fatalf("the term splits into %d leaves: too few to show anything", leaves)
	}
	if 2*sent["its share"] > sent["a page each"] {
		t.Errorf("asking each leaf for its share sent %d posts, a page each %d: want at most half", sent["its share"], sent["a page each"])
	}
}
