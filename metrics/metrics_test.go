package metrics

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel"
)

// TestNamesLint runs client_golang's linter (the rules of promtool check
// metrics) over every collector murmur registers.
func TestNamesLint(t *testing.T) {
	m := New()
	m.PostsAccepted.WithLabelValues("api").Inc()
	m.PostsRejected.WithLabelValues(ReasonEmpty).Inc()
	m.IndexBatchSeconds.Observe(0.01)
	m.IndexBatchPosts.Observe(10)
	m.SearchSeconds.WithLabelValues("local").Observe(0.001)
	m.SearchRequests.WithLabelValues("ok").Inc()
	m.HTTPRequests.WithLabelValues("search", "2xx").Inc()
	m.KeyPostings.WithLabelValues(ClassTerm).Set(3)
	m.QueryPhaseSeconds.WithLabelValues(PhaseFanout).Observe(0.02)
	m.QueryPeersAsked.Observe(3)
	m.QueryPeersFailed.Observe(0)
	m.RepairPassSeconds.Observe(1)
	m.GaugeFunc("murmur_index_documents", "Posts in the local index.", func() float64 { return 1 })
	problems, err := testutil.GatherAndLint(m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
}

// TestNetworkSeriesAtZero checks that every labelled network and query series
// is exported before its first event, so dashboards see an idle node.
func TestNetworkSeriesAtZero(t *testing.T) {
	m := New()
	want := map[string]int{
		"murmur_key_postings":                 3,
		"murmur_repair_passes_total":          2,
		"murmur_store_requests_total":         4,
		"murmur_store_posts_total":            2,
		"murmur_protocol_bytes_total":         8,
		"murmur_query_phase_duration_seconds": 3,
		"murmur_search_served_total":          4,
		"murmur_peers_connected":              1,
		"murmur_placement_short_total":        1,
		"murmur_owner_lookups_total":          1,
		"murmur_evicted_posts_total":          1,
	}
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, f := range fams {
		got[f.GetName()] = len(f.GetMetric())
	}
	for name, n := range want {
		if got[name] != n {
			t.Errorf("%s: %d series, want %d", name, got[name], n)
		}
	}
	if ts := testutil.ToFloat64(m.RepairLastSuccess); ts < 1e9 {
		t.Errorf("murmur_repair_last_success_timestamp_seconds = %v, want the start time", ts)
	}
}

// TestProcessWide checks that OpenTelemetry instruments made through the
// global meter provider (as kad-dht's are) reach the node's registry, that
// the result still lints, and that a second node of the process is refused.
func TestProcessWide(t *testing.T) {
	m := New()
	reg, stop, err := m.ProcessWide()
	if err != nil {
		t.Fatal(err)
	}
	defer stop(context.Background())
	if reg != prometheus.Registerer(m.Registry) {
		t.Errorf("ProcessWide returned a registerer other than the node's registry")
	}
	c, err := otel.Meter("github.com/libp2p/go-libp2p-kad-dht").Int64Counter("rpc.inbound.messages")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 2)
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range fams {
		if f.GetName() == "rpc_inbound_messages_total" {
			found = true
		}
	}
	if !found {
		t.Errorf("rpc_inbound_messages_total not in the node's registry")
	}
	if _, _, err := New().ProcessWide(); !errors.Is(err, ErrProcessWideTaken) {
		t.Errorf("second ProcessWide: err = %v, want ErrProcessWideTaken", err)
	}
}
