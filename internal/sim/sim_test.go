package sim

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/murmur-p2p/murmur/internal/corpus"
	"github.com/murmur-p2p/murmur/internal/testenv"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// TestSearchAtScaleFindsWhatOneIndexFinds runs the real network search
// over 60 and 200 simulated nodes (40 with -short) holding 600 fortunes
// (fewer would have no common term), and checks every first page and total of the mix
// against one index, and that a search asks no more than its keys'
// owners: two for a one-key query (a whole answer and a digest), at most
// two per owner set of a hot term's 16 shards.
//
// Up to netsearch.MaxSummaryPeers+1 nodes the querier asks every node for
// its figures of the collection statistics, and every page is one
// index's. Beyond, it asks a sample and scores with estimated totals:
// every match is found and counted, but where two hits score within the
// estimate's error their order may differ from one index's, so a first
// page may swap its last hit with the next one.
func TestSearchAtScaleFindsWhatOneIndexFinds(t *testing.T) {
	testenv.Need(t, corpus.Available(), "the fortunes corpus", corpus.InstallHint)
	sizes := []int{netsearch.MaxSummaryPeers - 4, 200}
	posts := 600
	if testing.Short() {
		sizes = []int{40}
	}
	for _, nodes := range sizes {
		t.Run(fmt.Sprintf("nodes=%d", nodes), func(t *testing.T) {
			exact := nodes <= netsearch.MaxSummaryPeers+1
			searchAtScale(t, nodes, posts, exact)
		})
	}
}

func searchAtScale(t *testing.T, nodes, posts int, exact bool) {
	ps, err := SamplePosts(posts, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	net, err := New(ctx, filepath.Join(dir, "nodes"), nodes, ps, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	if got := len(net.Nodes()); got != nodes {
		t.Fatalf("%d nodes, want %d", got, nodes)
	}
	ref, err := OneIndex(ctx, filepath.Join(dir, "ref"), ps)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	qs := Mix(Texts(ps), 5)
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
	minRecall := 1.0
	if !exact {
		minRecall = 0.95 // sampled statistics: see above
	}
	if rep.Recall < minRecall || rep.ExactTotals != 1 {
		t.Errorf("recall %.4f and exact totals %.4f, want at least %.2f and 1", rep.Recall, rep.ExactTotals, minRecall)
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
		case "and-hot":
			limit = 2 * 2 * keyspace.HotShards // planned on the stop word when the other term is no rarer
		}
		if k.MessagesPerQuery > limit*1.5 { // a refill round now and then
			t.Errorf("%s: %.1f messages a query, want at most %.0f", kind, k.MessagesPerQuery, limit*1.5)
		}
		if kindMin := minRecall - (1-minRecall)*1; k.Recall < kindMin { // 5 queries: a swap weighs more
			t.Errorf("%s: recall %.4f, want at least %.2f", kind, k.Recall, kindMin)
		}
	}
	if c := rep.PlacementCopiesPerPost; c < Replicas || c > float64(nodes) {
		t.Errorf("%.1f copies a post, want %d to %d", c, Replicas, nodes)
	}
}
