package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
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
	m.GaugeFunc("murmur_index_documents", "Posts in the local index.", func() float64 { return 1 })
	problems, err := testutil.GatherAndLint(m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
}
