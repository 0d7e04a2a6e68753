package sim

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/corpus"
	"github.com/murmur-p2p/murmur/internal/testenv"
	"github.com/murmur-p2p/murmur/keyspace"
)

// TestSearchAtScaleFindsWhatOneIndexFinds runs the real network search
// over 200 simulated nodes (40 with -short) holding 600 fortunes: every
// first page and every total of the mix is one index's, and a search asks
// no more than its keys' owners: two for a one-key query (a whole answer
// and a digest), at most two per owner set of a hot term's 16 shards.
func TestSearchAtScaleFindsWhatOneIndexFinds(t *testing.T) {
	testenv.Need(t, corpus.Available(), "the fortunes corpus", corpus.InstallHint)
	nodes, posts := 200, 600
	if testing.Short() {
		nodes, posts = 40, 300
	}
	ps, err := SamplePosts(posts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	net, err := New(ctx, filepath.Join(dir, "nodes"), nodes, ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	if got := len(net.Nodes()); got != nodes {
		t.Fatalf("%d nodes, want %d", got, nodes)
	}
	ref, err := index.Open(index.Config{Dir: filepath.Join(dir, "ref"), MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	if _, err := ref.Put(ctx, ps...); err != nil {
		t.Fatal(err)
	}
	if err := ref.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	qs := Mix(ps, 5, 1)
	kinds := map[string]int{}
	for _, q := range qs {
		kinds[q.Kind]++
	}
	if kinds["rare"] == 0 || kinds["hot"] == 0 || kinds["common"] == 0 || len(kinds) < 4 {
		t.Fatalf("the mix has too few kinds to check: %v", kinds)
	}
	rep, err := net.Search(ctx, ref, qs, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	net.PlacementOf(rep, ps)
	t.Logf("%d nodes: recall %.4f, exact totals %.4f, %.1f messages and %.0f bytes a query, %.1f copies a post, %.0f heap bytes a node",
		rep.Nodes, rep.Recall, rep.ExactTotals, rep.MessagesPerQuery, rep.BytesPerQuery, rep.PlacementCopiesPerPost, rep.HeapBytesPerNode)
	if rep.Recall != 1 || rep.ExactTotals != 1 {
		t.Errorf("recall %.4f and exact totals %.4f, want 1 and 1", rep.Recall, rep.ExactTotals)
	}
	// Each request is two messages (request and answer); a warm search
	// asks statistics of nobody.
	for kind, k := range rep.PerKind {
		limit := 2.0 * 2 // one key: a whole answer and a digest
		switch kind {
		case "hot":
			limit = 2 * 2 * keyspace.HotShards
		case "or":
			limit = 2 * 2 * 2
		}
		if k.MessagesPerQuery > limit*1.5 { // a refill round now and then
			t.Errorf("%s: %.1f messages a query, want at most %.0f", kind, k.MessagesPerQuery, limit*1.5)
		}
		if k.Recall != 1 {
			t.Errorf("%s: recall %.4f", kind, k.Recall)
		}
	}
	if c := rep.PlacementCopiesPerPost; c < Replicas || c > float64(nodes) {
		t.Errorf("%.1f copies a post, want %d to %d", c, Replicas, nodes)
	}
}
