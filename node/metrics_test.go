package node_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/murmur-p2p/murmur/crawl"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/node"
)

// TestMetricsOfANode: every collector a node's parts register on its
// registry passes client_golang's linter (promtool's rules), and every
// labelled series of the network and its searches is exported before its
// first event, so dashboards see an idle node.
func TestMetricsOfANode(t *testing.T) {
	n, err := node.New(node.Config{DataDir: t.TempDir(), APIAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), Crawl: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer func() { cancel(); <-done }()
	reg := n.Metrics()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, f := range fams {
		got[f.GetName()] = len(f.GetMetric())
	}
	for name, n := range map[string]int{
		metrics.PostsAccepted:     3, // api, import, crawl
		metrics.KeyPostings:       3, // term, author, label
		metrics.RepairPasses:      2,
		metrics.StoreRequests:     4,
		metrics.StorePosts:        2,
		metrics.ProtocolBytes:     12, // 6 protocols, in and out
		metrics.ProtocolMessages:  12,
		metrics.QueryPhaseSeconds: 3,
		metrics.SearchServed:      4,
		metrics.PeersConnected:    1,
		metrics.PlacementShort:    1,
		metrics.OwnerLookups:      1,
		metrics.SurveyLookups:     1,
		metrics.SurveyedServers:   1,
		metrics.EvictedPosts:      1,
		metrics.APIRefused:        4,
		metrics.CrawlFetches:      len(crawl.Statuses),
	} {
		if got[name] != n {
			t.Errorf("%s: %d series, want %d", name, got[name], n)
		}
	}
	if ts := metrics.Value(reg, metrics.RepairLastSuccess); ts < 1e9 {
		t.Errorf("%s = %v, want the start time", metrics.RepairLastSuccess, ts)
	}
}
