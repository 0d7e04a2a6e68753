package p2p

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/live"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// TestASplitTermMovesToTheNodesOfItsTrie: 6 nodes hold 120 posts, 90 of
// them with "heron", written over three months. Every node then learns
// that heron is split (SetSplit, docs/split-keys.md step 3a): a bucket a
// month, the newest two leaves deep. Repair hands each heron post to the
// owners of its leaf, with nothing else moved, and the nodes that own no
// other key of a post drop it; no node holds anything under the root
// after. A search from any node finds every heron post, in one index's
// order and with its totals, and a heron post written after the split is
// placed under its leaf.
func TestASplitTermMovesToTheNodesOfItsTrie(t *testing.T) {
	net := startSplitNetwork(t, 0)
	ctx := context.Background()
	writer := net.svcs[0]
	const term = "heron"
	root := keyspace.TermKey(term)
	words := strings.Fields("reed marsh tide dune gull tern kelp shell")
	key := testkit.Key(t)
	now := time.Now()
	var posts []*post.Post
	for i := range 120 {
		// Two words: a node holds a post for its other keys rarely enough
		// that some leaf owners lack some of their posts.
		text := fmt.Sprintf("%s %s", term, words[i%len(words)])
		if i%4 == 3 {
			text = strings.TrimPrefix(text, term+" ")
		}
		p, err := post.Sign(key, post.Draft{Text: text, CreatedAt: now.Add(-time.Duration(i) * 18 * time.Hour)}, now)
		if err != nil {
			t.Fatal(err)
		}
		posts = append(posts, p)
	}
	net.write(writer, posts)
	poll.Until(t, "every key at its owners", time.Minute, 100*time.Millisecond, func() bool { return net.misplaced(keyCounts(posts)) == 0 })

	// A bucket a month; the newest month's two leaves deep.
	perMonth := map[string]int{}
	for _, p := range posts {
		if strings.HasPrefix(p.Text, term+" ") {
			perMonth[keyspace.MonthOf(p.CreatedAt)]++
		}
	}
	var record keyspace.Split
	for _, m := range slices.Sorted(maps.Keys(perMonth)) {
		record.Buckets = append(record.Buckets, keyspace.Bucket{Month: m, Count: perMonth[m]})
	}
	record.Buckets[len(record.Buckets)-1].Depth = 2
	if len(record.Buckets) < 3 {
		t.Fatalf("heron's posts span %d months; the test wants three", len(record.Buckets))
	}
	splitOf := func(k string) (keyspace.Split, bool) { return record, k == root }
	splitCounts := func(posts []*post.Post) map[string]int {
		want := map[string]int{}
		for _, p := range posts {
			for _, k := range keyspace.KeysWith(p, splitOf) {
				want[k]++
			}
		}
		return want
	}
	// strays counts the copies services hold of posts they own no key of,
	// by the split.
	keysOf := func(p *post.Post) []string { return keyspace.KeysWith(p, splitOf) }
	strays := func() int { n, _ := net.strays(net.svcs, keysOf); return n }

	// sumOf adds up a counter of every service.
	sumOf := func(name string) (n float64) {
		for _, s := range net.svcs {
			n += metrics.Value(s.cfg.Metrics.(prometheus.Gatherer), name)
		}
		return n
	}
	handedBefore := sumOf(metrics.HandoffPosts)
	for _, s := range net.svcs {
		if err := s.SetSplit(ctx, root, record); err != nil {
			t.Fatal(err)
		}
	}
	want := splitCounts(posts)
	strayBefore := strays()
	start := time.Now()
	poll.Until(t, "every heron post at its leaf's owners, and no copy astray", 2*time.Minute, 200*time.Millisecond, func() bool {
		return net.misplaced(want) == 0 && strays() == 0
	})
	handedDown := sumOf(metrics.HandoffPosts) - handedBefore
	if strayBefore == 0 || handedDown == 0 {
		t.Fatalf("after the split, %d copies astray and %v posts handed to new owners: the test shows no hand-down", strayBefore, handedDown)
	}
	t.Logf("heron split into %d leaves over %d months: %v posts handed down and %d copies astray; every leaf at its owners and none astray %v later",
		len(record.Leaves(keyspace.RootNode(keyspace.ClassTerm, term), time.Time{}, time.Time{})), len(record.Buckets), handedDown, strayBefore, time.Since(start).Round(100*time.Millisecond))
	for _, s := range net.svcs {
		if n := s.hold.Count(root); n != 0 {
			t.Errorf("%s holds %d posts under the split root", s.ID(), n)
		}
		// A node hands down exactly each leaf's posts: an owner refuses
		// a post sent under a key it does not fall in.
		reg := s.cfg.Metrics.(prometheus.Gatherer)
		if n := metrics.Value(reg, metrics.Refused, "protocol", metrics.ProtocolStore, "reason", metrics.RefusedMalformed); n != 0 {
			t.Errorf("%s refused %v posts sent under keys they do not fall in", s.ID(), n)
		}
	}

	// A search from any node finds the one index's matches.
	ref := referenceOf(t, posts)
	check := func(s *Service, q string, sort query.Sort) {
		t.Helper()
		res, err := coordinator(t, s).Search(ctx, query.Request{Q: q, Sort: sort, Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		wres, err := query.Run(ctx, ref, query.Request{Q: q, Sort: sort, Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		got, exp := hitIDs(res.Hits), hitIDs(wres.Hits)
		if !slices.Equal(got, exp) || res.Total != wres.Total || res.Partial {
			t.Errorf("%q %s from %s: %d hits of %d (partial %v), one index %d of %d", q, sort, s.ID(), len(got), res.Total, res.Partial, len(exp), wres.Total)
		}
	}
	for _, s := range net.svcs[:3] {
		for _, q := range []string{term, term + " tide", term + " since:" + record.Buckets[len(record.Buckets)-1].Month + "-01"} {
			check(s, q, query.SortLatest)
			check(s, q, query.SortTop)
		}
	}

	// A heron post written now goes to its leaf's owners, and reaches a
	// standing search of heron, kept at the root's owners and at the
	// current month's leaves' owners.
	follower := net.svcs[2]
	fc := coordinator(t, follower)
	if _, err := fc.Search(ctx, query.Request{Q: term, Limit: 1}); err != nil { // learns the split
		t.Fatal(err)
	}
	prep, err := query.Prepare(query.Request{Q: term})
	if err != nil {
		t.Fatal(err)
	}
	liveKeys, err := fc.LiveKeys(prep)
	if err != nil {
		t.Fatal(err)
	}
	if len(liveKeys) != 1+4 {
		t.Errorf("a standing search of the split term is kept under %v; want the root and the current month's 4 leaves", liveKeys)
	}
	followCtx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	pushed, ready := live.Follow(followCtx, follower, prep, live.Request{Query: term}, liveKeys, discard)
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("the standing search was not kept by an owner of every key in 20s")
	}
	fresh, err := post.Sign(key, post.Draft{Text: term + " at dawn", CreatedAt: time.Now()}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	net.write(writer, []*post.Post{fresh})
	select {
	case p := <-pushed:
		if p.ID != fresh.ID {
			t.Errorf("the standing search got %s, want the new post %s", p.ID, fresh.ID)
		}
	case <-time.After(20 * time.Second):
		t.Error("the standing search of the split term did not get the new post in 20s")
	}
	posts = append(posts, fresh)
	if _, err := ref.Put(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	want = splitCounts(posts)
	poll.Until(t, "the new heron post at its leaf's owners", time.Minute, 100*time.Millisecond, func() bool {
		return net.misplaced(want) == 0
	})
	check(net.svcs[1], term, query.SortLatest)

	// A root owner refreshes the buckets' counts from their leaves'
	// owners: one of them that counts a thousandfold, the first owner of
	// a leaf, moves no bucket's count (the median of each leaf's owners).
	perMonth[keyspace.MonthOf(fresh.CreatedAt)]++
	rootOwner := net.byID(net.trueOwners(root)[0])
	var liar *Service
	var lied string
	for _, n := range record.Leaves(keyspace.RootNode(keyspace.ClassTerm, term), time.Time{}, time.Time{}) {
		owners, err := rootOwner.Owners(ctx, n.String())
		if err != nil {
			t.Fatal(err)
		}
		if first := owners[0]; first != rootOwner.ID() {
			liar, lied = net.byID(first), n.String()
			break
		}
	}
	if liar == nil {
		t.Fatal("the root's owner is the first owner of every leaf; the test proves nothing")
	}
	net.lieInStats(liar, func(_ *statsRequest, resp *statsResponse) {
		for i := range resp.Counts {
			resp.Counts[i] = resp.Counts[i]*1000 + 1000
		}
	})
	counted, _ := rootOwner.countBuckets(ctx, root, record)
	for _, b := range counted.Buckets {
		if b.Count != perMonth[b.Month] {
			t.Errorf("with a leaf's first owner lying, bucket %s counts %d, want %d", b.Month, b.Count, perMonth[b.Month])
		}
	}
	t.Logf("a liar first of a leaf of %s: bucket counts %+v", lied, counted.Buckets)
}

// exactSearches is a check that a search of term with c, by date and by
// score, finds ref's hits and total, counted in *searches; on a miss it
// logs who holds each missing post, under which keys.
func exactSearches(t *testing.T, net *testNetwork, c *netsearch.Coordinator, ref *index.Index, term string, searches *int) func(what string) {
	root := keyspace.TermKey(term)
	return func(what string) {
		t.Helper()
		ctx := context.Background()
		for _, sort := range []query.Sort{query.SortLatest, query.SortTop} {
			req := query.Request{Q: term, Sort: sort, Limit: 200}
			res, err := c.Search(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			wres, err := query.Run(ctx, ref, req)
			if err != nil {
				t.Fatal(err)
			}
			*searches++
			if got, exp := hitIDs(res.Hits), hitIDs(wres.Hits); !testkit.SameSet(got, exp) || res.Total != wres.Total {
				for _, h := range wres.Hits {
					if slices.Contains(got, h.Post.ID) {
						continue
					}
					var holders []string
					owners := map[string][]int{} // the post's trie keys, by its holders' records
					for i, s := range net.svcs {
						if held, _ := s.cfg.Store.Holds(ctx, []string{h.Post.ID}); held[0] {
							sp, ok := s.splits.get(root)
							holders = append(holders, fmt.Sprintf("%d(rec %v %+v keys %v)", i, ok, sp, s.keysOf(h.Post)))
							for _, k := range s.keysOf(h.Post) {
								if strings.Contains(k, "@") || k == root {
									owners[k] = nil
								}
							}
						}
					}
					for k := range owners {
						for _, o := range net.trueOwners(k) {
							owners[k] = append(owners[k], slices.IndexFunc(net.svcs, func(s *Service) bool { return s.ID() == o }))
						}
					}
					t.Logf("missing %s %s; owners %v; held by %v", h.Post.ID[:8], h.Post.CreatedAt.Format("2006-01-02"), owners, holders)
				}
				t.Fatalf("%s, %s: %d hits of %d (partial %v), one index %d", what, sort, len(got), res.Total, res.Partial, len(exp))
			}
		}
	}
}

// TestATermSplitsWhilePostsAreWrittenAndSearched: posts of a term are
// written in batches from every node, while its root's owners split it,
// hand it down and settle; after each batch's write returns, a search from
// a node that owns none of it finds every post written so far, by score
// and by date, with the one index's total. Writers learn the split as they
// go (from the root's owners' store answers or their own records), and
// some write while the root hands down, some after it settled. A stop
// word splits the same way (protocol 4; protocol 3 split it 16 ways by
// shard from its first post, and refused its trie's keys).
func TestATermSplitsWhilePostsAreWrittenAndSearched(t *testing.T) {
	for _, term := range []string{"heron", "the"} {
		t.Run(term, func(t *testing.T) { splitWhileWrittenAndSearched(t, term) })
	}
}

func splitWhileWrittenAndSearched(t *testing.T, term string) {
	const splitAt = 40
	net := startSplitNetwork(t, splitAt)
	ctx := context.Background()
	root := keyspace.TermKey(term)
	rootOwners := net.trueOwners(root)
	searcher := net.notOwning(rootOwners)
	words := strings.Fields("reed marsh tide dune gull tern kelp shell")
	key := testkit.Key(t)
	now := time.Now()
	var posts []*post.Post
	for i := range 160 {
		text := fmt.Sprintf("%s %s %d", term, words[i%len(words)], i)
		p, err := post.Sign(key, post.Draft{Text: text, CreatedAt: now.Add(-time.Duration(160-i) * 17 * time.Hour)}, now)
		if err != nil {
			t.Fatal(err)
		}
		posts = append(posts, p)
	}
	ref := referenceOf(t, nil)
	c := netsearch.New(searcher, netsearch.Config{Logger: discard, CountTTL: time.Second})
	defer c.Close()
	searches := 0
	exact := exactSearches(t, net, c, ref, term, &searches)
	phaseOf := func() string {
		done, split := 0, 0
		for _, o := range rootOwners {
			if sp, ok := net.byID(o).splits.get(root); ok {
				split++
				if sp.Residual == 0 {
					done++
				}
			}
		}
		switch {
		case done == len(rootOwners):
			return "settled"
		case split > 0:
			return "handing down"
		}
		return "whole"
	}
	written := map[string]int{} // batches written in each phase
	const batch = 4
	for i := 0; i < len(posts); i += batch {
		b := posts[i:min(i+batch, len(posts))]
		if _, err := ref.Put(ctx, b...); err != nil {
			t.Fatal(err)
		}
		phase := phaseOf()
		net.write(net.svcs[(i/batch)%len(net.svcs)], b)
		written[phase]++
		exact(fmt.Sprintf("after %d posts, written while %s", i+len(b), phase))
		if phase == "whole" && i+len(b) >= splitAt {
			// Let the owners' passes come round while the term is whole
			// and big enough, so that later batches meet the hand-down.
			time.Sleep(300 * time.Millisecond)
		}
	}
	poll.Until(t, term+" split and settled at every owner of its root", time.Minute, 200*time.Millisecond, func() bool {
		exact("while " + term + " settles")
		return phaseOf() == "settled"
	})
	// Three batches more, this month's, once settled.
	for j := range 3 {
		var b []*post.Post
		for k := range batch {
			p, err := post.Sign(key, post.Draft{Text: fmt.Sprintf("%s at dusk %d %d", term, j, k), CreatedAt: time.Now()}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, p)
		}
		if _, err := ref.Put(ctx, b...); err != nil {
			t.Fatal(err)
		}
		net.write(net.svcs[j%len(net.svcs)], b)
		written[phaseOf()]++
		exact(fmt.Sprintf("after %d posts once settled", (j+1)*batch))
	}
	t.Logf("batches written while whole, handing down, settled: %d, %d, %d; %d searches, every one the one index's",
		written["whole"], written["handing down"], written["settled"], searches)
	if written["handing down"]+written["settled"] == 0 {
		t.Error("no batch was written once the term split: the test shows nothing of writes during a split")
	}
}

// startSplitNetwork starts 6 services that repair and evict every second,
// settle 2 s after a pass, answer searches from their indexes, and count
// their own metrics; splitAt, when not 0, is their split threshold, with a
// grace of 3 s.
func startSplitNetwork(t *testing.T, splitAt int) *testNetwork {
	t.Helper()
	return startNetwork(t, 6, func(c *Config) {
		c.RepairInterval = time.Second
		c.EvictInterval = time.Second
		c.SettleMargin = 2 * time.Second
		if splitAt != 0 {
			c.SplitAt = splitAt
			c.SplitGrace = 3 * time.Second
		}
		c.Metrics = prometheus.NewRegistry()
		ix := c.Store.(*index.Index)
		c.Searcher = func(ctx context.Context, req *netsearch.Request) (*netsearch.Response, error) {
			return netsearch.Answer(ctx, ix, req)
		}
	})
}

// referenceOf is one index over posts, closed when t ends.
func referenceOf(t *testing.T, posts []*post.Post) *index.Index {
	t.Helper()
	ref, err := index.Open(index.Config{Dir: filepath.Join(t.TempDir(), "ref"), Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ref.Close() })
	if _, err := ref.Put(context.Background(), posts...); err != nil {
		t.Fatal(err)
	}
	return ref
}

func hitIDs(hits []query.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Post.ID
	}
	return out
}

// TestATermSplitsAsItGrows: 6 nodes with a split threshold of 40 posts
// are written 90 heron posts over four months. The root's owners split
// heron by themselves: a bucket a month, the root asked alone while it
// hands its posts down, then the buckets. Every search from a node that
// owns none of it, run again and again while this goes on, is the one
// index's. Once done, every bucket's owners hold its posts, the root's
// owners hold nothing under the root, and the copies astray are dropped
// after the grace period; a new post goes to its month's bucket.
func TestATermSplitsAsItGrows(t *testing.T) {
	const splitAt = 40
	net := startSplitNetwork(t, splitAt)
	ctx := context.Background()
	const term = "heron"
	root := keyspace.TermKey(term)
	rootOwners := net.trueOwners(root)
	searcher := net.notOwning(rootOwners)
	writer := searcher
	words := strings.Fields("reed marsh tide dune gull tern kelp shell")
	key := testkit.Key(t)
	now := time.Now()
	var posts []*post.Post
	for i := range 120 {
		text := fmt.Sprintf("%s %s", term, words[i%len(words)])
		if i%4 == 3 {
			text = "the " + words[i%len(words)]
		}
		p, err := post.Sign(key, post.Draft{Text: text, CreatedAt: now.Add(-time.Duration(i) * 18 * time.Hour)}, now)
		if err != nil {
			t.Fatal(err)
		}
		posts = append(posts, p)
	}
	ref := referenceOf(t, posts)
	// The searcher learns the record again a second after it changed:
	// the grace period is two such lifetimes and more.
	c := netsearch.New(searcher, netsearch.Config{Logger: discard, CountTTL: time.Second})
	defer c.Close()
	searches := 0
	exact := exactSearches(t, net, c, ref, term, &searches)

	net.write(writer, posts)
	exact("before the split")
	// The root's owners split heron, hand its posts down and settle.
	var phases []string
	recordOf := func() (keyspace.Split, bool) {
		for _, s := range net.svcs {
			if s.ID() == rootOwners[0] {
				return s.splits.get(root)
			}
		}
		return keyspace.Split{}, false
	}
	poll.Until(t, "heron split and handed down at every owner of its root", 2*time.Minute, 100*time.Millisecond, func() bool {
		exact("while heron splits")
		phase := "whole"
		done := 0
		for _, s := range net.svcs {
			if !slices.Contains(rootOwners, s.ID()) {
				continue
			}
			if sp, ok := s.splits.get(root); ok {
				phase = "handing down"
				if sp.Residual == 0 {
					done++
				}
			}
		}
		if done == len(rootOwners) {
			phase = "settled"
		}
		if len(phases) == 0 || phases[len(phases)-1] != phase {
			phases = append(phases, phase)
		}
		return phase == "settled"
	})
	record, _ := recordOf()
	splitOf := func(k string) (keyspace.Split, bool) { return record, k == root }
	want := map[string]int{}
	for _, p := range posts {
		for _, k := range keyspace.KeysWith(p, splitOf) {
			want[k]++
		}
	}
	poll.Until(t, "every bucket at its owners", time.Minute, 200*time.Millisecond, func() bool {
		exact("while the buckets fill")
		return net.misplaced(want) == 0
	})
	for _, s := range net.svcs {
		if slices.Contains(rootOwners, s.ID()) && s.hold.Count(root) != 0 {
			t.Errorf("root owner %s holds %d posts under the split root", s.ID(), s.hold.Count(root))
		}
	}
	// Once the grace is over the root's owners drop the copies they own
	// no key of.
	var owners []*Service
	for _, s := range net.svcs {
		if slices.Contains(rootOwners, s.ID()) {
			owners = append(owners, s)
		}
	}
	keysOf := func(p *post.Post) []string { return keyspace.KeysWith(p, splitOf) }
	strays := func() int { n, _ := net.strays(owners, keysOf); return n }
	poll.Until(t, "the root's owners drop what they handed down", time.Minute, 200*time.Millisecond, func() bool {
		exact("while copies are dropped")
		return strays() == 0
	})
	t.Logf("phases %v; record %+v; %d searches, every one the one index's", phases, record, searches)
	// The phases seen, in order: the split may come before the first look.
	order := []string{"whole", "handing down", "settled"}
	for i := 1; i < len(phases); i++ {
		if slices.Index(order, phases[i]) <= slices.Index(order, phases[i-1]) {
			t.Errorf("phases %v: out of order", phases)
		}
	}
	var months []string
	for _, p := range posts {
		if m := keyspace.MonthOf(p.CreatedAt); strings.HasPrefix(p.Text, term) && !slices.Contains(months, m) {
			months = append(months, m)
		}
	}
	for _, m := range months {
		if !slices.ContainsFunc(record.Buckets, func(b keyspace.Bucket) bool { return b.Month == m }) {
			t.Errorf("the record %+v lists no bucket for %s", record, m)
		}
	}

	// A heron post written now goes to its month's bucket.
	fresh, err := post.Sign(key, post.Draft{Text: term + " at dawn", CreatedAt: time.Now()}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	net.write(writer, []*post.Post{fresh})
	if _, err := ref.Put(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	bucket := keyspace.RootNode(keyspace.ClassTerm, term).BucketOf(fresh.CreatedAt).String()
	poll.Until(t, "the new post at its bucket's owners", time.Minute, 100*time.Millisecond, func() bool {
		for _, o := range net.trueOwners(bucket) {
			for _, s := range net.svcs {
				if s.ID() == o {
					if held, err := s.cfg.Store.Holds(ctx, []string{fresh.ID}); err != nil || !held[0] {
						return false
					}
				}
			}
		}
		return true
	})
	exact("after a new post")

	// Two of the root's three owners lose the record, as owners that come
	// after the split would not have it: asked the root's count by a
	// planner, each learns it again from the others.
	var forgot []*Service
	for _, s := range net.svcs {
		if slices.Contains(rootOwners, s.ID()) && len(forgot) < 2 {
			s.splits.mu.Lock()
			delete(s.splits.records, root)
			s.splits.n.Store(int64(len(s.splits.records)))
			s.splits.mu.Unlock()
			forgot = append(forgot, s)
		}
	}
	poll.Until(t, "the root's owners learn the record again", 30*time.Second, 200*time.Millisecond, func() bool {
		exact("while owners learn the record again")
		for _, s := range forgot {
			if _, ok := s.splits.get(root); !ok {
				return false
			}
		}
		return true
	})
}

// TestAMonthSplitsByThePostIDAsItFills: 6 nodes with a split threshold of
// 30 posts hold 100 posts of a term written this month and 12 of two
// months before. The root's owners split the term by month; this month's
// bucket then moves one bit deeper, and once its leaves fill, one more
// (100 is at least 60 but under 120): its nodes' owners learn each move,
// hand their posts down and drop them after the grace. A node that owns
// none of the term searches it all along, by date and by score, and finds
// the one index's set and total every time. A post written now goes to its
// leaf two bits deep.
func TestAMonthSplitsByThePostIDAsItFills(t *testing.T) {
	const splitAt = 30
	net := startSplitNetwork(t, splitAt)
	ctx := context.Background()
	const term = "heron"
	root := keyspace.TermKey(term)
	rootOwners := net.trueOwners(root)
	searcher := net.notOwning(rootOwners)
	words := strings.Fields("reed marsh tide dune gull tern kelp shell")
	key := testkit.Key(t)
	now := time.Now()
	month, _, err := keyspace.MonthSpan(keyspace.MonthOf(now))
	if err != nil {
		t.Fatal(err)
	}
	var posts []*post.Post
	for i := range 112 {
		at := now.Add(-now.Sub(month) * time.Duration(i) / 100) // this month
		if i >= 100 {
			at = month.AddDate(0, -2, i-100) // two months before
		}
		p, err := post.Sign(key, post.Draft{Text: fmt.Sprintf("%s %s %d", term, words[i%len(words)], i), CreatedAt: at}, now)
		if err != nil {
			t.Fatal(err)
		}
		posts = append(posts, p)
	}
	ref := referenceOf(t, posts)
	c := netsearch.New(searcher, netsearch.Config{Logger: discard, CountTTL: time.Second})
	defer c.Close()
	searches := 0
	exact := exactSearches(t, net, c, ref, term, &searches)
	net.write(searcher, posts)
	exact("before the split")

	// The shapes the root's first owner's record goes through, as often
	// as the searches let the test look.
	first := net.byID(rootOwners[0])
	thisMonth := keyspace.MonthOf(now)
	var shapes []string
	shapeOf := func(sp keyspace.Split, ok bool) string {
		if !ok {
			return "whole"
		}
		if sp.Residual > 0 {
			return "handing down"
		}
		for _, b := range sp.Buckets {
			if b.Month == thisMonth {
				return fmt.Sprintf("%d bits, moving %v", b.Depth, b.Moving)
			}
		}
		return "no bucket of this month"
	}
	start := time.Now()
	var record keyspace.Split
	poll.Until(t, "this month two bits deep at every owner of the root", 3*time.Minute, 100*time.Millisecond, func() bool {
		exact("while the term splits")
		if shape := shapeOf(first.splits.get(root)); len(shapes) == 0 || shapes[len(shapes)-1] != shape {
			shapes = append(shapes, shape)
		}
		for _, o := range rootOwners {
			sp, ok := net.byID(o).splits.get(root)
			if shapeOf(sp, ok) != "2 bits, moving false" {
				return false
			}
			record = sp
		}
		return true
	})
	t.Logf("record shapes %v, settled in %v; record %+v", shapes, time.Since(start).Round(100*time.Millisecond), record)
	splitOf := func(k string) (keyspace.Split, bool) { return record, k == root }
	want := map[string]int{}
	for _, p := range posts {
		for _, k := range keyspace.KeysWith(p, splitOf) {
			want[k]++
		}
	}
	poll.Until(t, "every leaf at its owners", time.Minute, 200*time.Millisecond, func() bool {
		exact("while the leaves fill")
		return net.misplaced(want) == 0
	})
	keysOf := func(p *post.Post) []string { return keyspace.KeysWith(p, splitOf) }
	poll.Until(t, "no copy astray once the grace is over", time.Minute, 200*time.Millisecond, func() bool {
		exact("while copies are dropped")
		n, _ := net.strays(net.svcs, keysOf)
		return n == 0
	})
	for _, b := range record.Buckets {
		if b.Month != thisMonth && b.Depth != 0 {
			t.Errorf("bucket %+v of 12 posts split by the post ID", b)
		}
	}

	// A post written now goes to its leaf, two bits deep, by a writer that
	// owns neither the root nor the leaf and knows no record: the root's
	// owners store it and hand it on, and their answer names the root as
	// split, so the writer looks the record up.
	var fresh *post.Post
	var writer *Service
	for i := 0; writer == nil; i++ {
		if i == 50 {
			t.Fatal("every node owns the root or the new post's leaf; the test proves nothing")
		}
		fresh, err = post.Sign(key, post.Draft{Text: fmt.Sprintf("%s at dusk %d", term, i), CreatedAt: time.Now()}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		leaf := keyspace.RootNode(keyspace.ClassTerm, term).BucketOf(fresh.CreatedAt)
		leaf.Bits = keyspace.PrefixOf(fresh.ID, 2)
		for _, s := range net.svcs {
			if !slices.Contains(rootOwners, s.ID()) && !slices.Contains(net.trueOwners(leaf.String()), s.ID()) {
				writer = s
			}
		}
	}
	writer.splits.mu.Lock()
	delete(writer.splits.records, root)
	writer.splits.n.Store(int64(len(writer.splits.records)))
	writer.splits.mu.Unlock()
	if _, err := ref.Put(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	net.write(writer, []*post.Post{fresh})
	// The write returns once the post is at its leaf too: the writer
	// looked the record up before it returned, and a search finds the
	// post at once, not after the root's owners' next pass.
	if _, ok := writer.splits.get(root); !ok {
		t.Error("the write returned before the writer learned the record from the root's owners' answer")
	}
	leaf := keyspace.RootNode(keyspace.ClassTerm, term).BucketOf(fresh.CreatedAt)
	leaf.Bits = keyspace.PrefixOf(fresh.ID, 2)
	atLeaf := 0
	for _, o := range net.trueOwners(leaf.String()) {
		if held, err := net.byID(o).cfg.Store.Holds(ctx, []string{fresh.ID}); err == nil && held[0] {
			atLeaf++
		}
	}
	if atLeaf < writer.cfg.WriteQuorum {
		t.Errorf("the write returned with the post at %d of its leaf's owners, want at least %d", atLeaf, writer.cfg.WriteQuorum)
	}
	exact("right after a post by a writer that knew no record")
	poll.Until(t, "the new post at its leaf's owners", time.Minute, 100*time.Millisecond, func() bool {
		for _, o := range net.trueOwners(leaf.String()) {
			if held, err := net.byID(o).cfg.Store.Holds(ctx, []string{fresh.ID}); err != nil || !held[0] {
				return false
			}
		}
		return true
	})
	exact("after a new post")
	// The root's owners count the term from its leaves' owners.
	poll.Until(t, "the root's owners count every post of the term", 30*time.Second, 200*time.Millisecond, func() bool {
		for _, o := range rootOwners {
			if sp, _ := net.byID(o).splits.get(root); sp.Total() != len(posts)+1 {
				return false
			}
		}
		return true
	})

	// One of the root's owners lies: this month four bits deep, leaves
	// that hold nothing. Another loses its record, as a newcomer would not
	// have it, and looks it up from the other two: weighing what the nodes
	// of each record hold, it takes the honest depth, and searches stay
	// exact.
	liar, learner := net.byID(rootOwners[2]), net.byID(rootOwners[1])
	lie, _ := liar.splits.get(root)
	lie.Buckets = slices.Clone(lie.Buckets)
	for i := range lie.Buckets {
		if lie.Buckets[i].Month == thisMonth {
			lie.Buckets[i].Depth = keyspace.MaxSplitDepth
		}
	}
	net.lieInStats(liar, func(req *statsRequest, resp *statsResponse) {
		for i, k := range req.Keys {
			if k == root {
				resp.Splits[i] = &lie
			}
		}
	})
	learner.splits.mu.Lock()
	delete(learner.splits.records, root)
	learner.splits.n.Store(int64(len(learner.splits.records)))
	learner.splits.mu.Unlock()
	if err := learner.lookUpSplit(ctx, root); err != nil {
		t.Fatal(err)
	}
	learned, ok := learner.splits.get(root)
	if got := shapeOf(learned, ok); got != "2 bits, moving false" {
		t.Errorf("learnt from an honest owner and a liar: %s (%+v), want 2 bits", got, learned)
	}
	time.Sleep(1100 * time.Millisecond) // the searcher's counts expire
	exact("with a lying owner of the root")
	t.Logf("%d searches, every one the one index's", searches)
}

// TestATrieKeyAloneSplitsNothing: a peer sends an owner of a term's root
// one of its posts under a made-up node of the term's trie. The owner
// stores the post (it falls in the node), asks the root's owners for the
// term's record, learns that no owner keeps one, and goes on holding the
// term's posts under the root: one message cannot make it hand them away.
func TestATrieKeyAloneSplitsNothing(t *testing.T) {
	net := startNetwork(t, 4, func(c *Config) { c.RepairInterval = time.Second })
	ctx := context.Background()
	const term = "kestrel"
	root := keyspace.TermKey(term)
	posts := signPosts(t, 20, func(i int) string { return fmt.Sprintf("%s %d", term, i) })
	net.write(net.svcs[0], posts)
	poll.Until(t, "every key at its owners", 30*time.Second, 100*time.Millisecond, func() bool { return net.misplaced(keyCounts(posts)) == 0 })
	var owner, liar *Service
	for _, s := range net.svcs {
		switch {
		case owner == nil && slices.Contains(net.trueOwners(root), s.ID()):
			owner = s
		case liar == nil:
			liar = s
		}
	}
	held := owner.hold.Count(root)
	raw, err := json.Marshal(posts[0])
	if err != nil {
		t.Fatal(err)
	}
	node := keyspace.RootNode(keyspace.ClassTerm, term).BucketOf(posts[0].CreatedAt).String()
	var resp storeResponse
	req := storeRequest{Posts: []storeItem{{Post: raw, Keys: []string{node}}}}
	if err := liar.call(ctx, owner.ID(), []protocol.ID{StoreProtocol(owner.cfg.Network)}, "store", &req, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Posts) != 1 || resp.Posts[0].Error != "" {
		t.Fatalf("the owner refused a post under a trie node it falls in: %+v", resp.Posts)
	}
	poll.Until(t, "the owner looked the record up", 10*time.Second, 20*time.Millisecond, func() bool {
		owner.splits.mu.RLock()
		defer owner.splits.mu.RUnlock()
		_, heard := owner.splits.heard[root]
		return heard && !owner.splits.pending[root]
	})
	if sp, ok := owner.splits.get(root); ok {
		t.Errorf("one trie key made the owner keep the record %+v", sp)
	}
	if n := owner.hold.Count(root); n != held {
		t.Errorf("the owner holds %d posts under the root, %d before", n, held)
	}
}
