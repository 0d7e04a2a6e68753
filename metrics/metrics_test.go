package metrics

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
)

// TestValue reads back counters, gauges and histograms by name and labels.
func TestValue(t *testing.T) {
	reg := New()
	v := CounterVec(reg, "murmur_test_total", "A test counter.", "outcome", OutcomeOK, OutcomeError)
	v.WithLabelValues(OutcomeOK).Add(3)
	v.WithLabelValues(OutcomeError).Add(2)
	g := Gauge(reg, "murmur_test_gauge", "A test gauge.")
	g.Set(7)
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "murmur_test_seconds", Help: "A test histogram."})
	reg.MustRegister(h)
	h.Observe(1)
	h.Observe(2)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"murmur_test_total", nil, 5},
		{"murmur_test_total", []string{"outcome", OutcomeOK}, 3},
		{"murmur_test_total", []string{"outcome", "other"}, 0},
		{"murmur_test_gauge", nil, 7},
		{"murmur_test_seconds", nil, 2},
		{"murmur_absent", nil, 0},
	} {
		if got := Value(reg, c.name, c.labels...); got != c.want {
			t.Errorf("Value(%s, %v) = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestProcessWide checks that OpenTelemetry instruments made through the
// global meter provider (as kad-dht's are) reach the node's registry, and
// that a second node of the process is refused.
func TestProcessWide(t *testing.T) {
	node := New()
	reg, stop, err := ProcessWide(node)
	if err != nil {
		t.Fatal(err)
	}
	defer stop(context.Background())
	if reg != prometheus.Registerer(node) {
		t.Errorf("ProcessWide returned a registerer other than the node's registry")
	}
	c, err := otel.Meter("github.com/libp2p/go-libp2p-kad-dht").Int64Counter("rpc.inbound.messages")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 2)
	if Value(node, "rpc_inbound_messages_total") != 2 {
		t.Errorf("rpc_inbound_messages_total not in the node's registry")
	}
	if _, _, err := ProcessWide(New()); !errors.Is(err, ErrProcessWideTaken) {
		t.Errorf("second ProcessWide: err = %v, want ErrProcessWideTaken", err)
	}
}
