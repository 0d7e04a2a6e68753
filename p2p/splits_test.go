package p2p

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
	net := startNetwork(t, 6, func(c *Config) {
		c.RepairInterval = time.Second
		c.EvictInterval = time.Second
		c.SettleMargin = 2 * time.Second
		c.Metrics = prometheus.NewRegistry()
		ix := c.Store.(*index.Index)
		c.Searcher = func(ctx context.Context, req *netsearch.Request) (*netsearch.Response, error) {
			return netsearch.Answer(ctx, ix, req)
		}
	})
	ctx := context.Background()
	writer := net.svcs[0]
	const term = "heron"
	root := keyspace.TermKey(term, "")
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
	strays := func() (stray int) {
		for _, s := range net.svcs {
			err := s.cfg.Store.Walk(ctx, func(p *post.Post) error {
				for _, k := range keyspace.KeysWith(p, splitOf) {
					if slices.Contains(net.trueOwners(k), s.ID()) {
						return nil
					}
				}
				stray++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		return stray
	}

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
	ref, err := index.Open(index.Config{Dir: filepath.Join(t.TempDir(), "ref"), Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	if _, err := ref.Put(ctx, posts...); err != nil {
		t.Fatal(err)
	}
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
}

func hitIDs(hits []query.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Post.ID
	}
	return out
}
