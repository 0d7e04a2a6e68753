package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// ErrProcessWideTaken is returned by ProcessWide when another node of the
// same process already holds the process-wide instruments.
var ErrProcessWideTaken = errors.New("metrics: the process-wide libp2p and kad-dht instruments already belong to another node of this process")

// processWideTaken makes ProcessWide a once-per-process call.
var processWideTaken atomic.Bool

// ProcessWide gives the node of reg the instruments that go-libp2p and kad-dht keep
// per process, not per host: it returns the registerer to hand the libp2p
// host (libp2p.PrometheusRegisterer) so the resource manager, swarm,
// identify and hole-punching collectors land in this node's registry, and it
// installs an OpenTelemetry meter provider, exported to the same registry,
// as the global one, which is where kad-dht's instruments (rpc_inbound_*,
// rpc_outbound_*, network_size) record, as kubo does.
//
// Call it only when the node is alone in its process (murmur node, one per
// container). With several nodes in one process (tests), the others must
// build their hosts with libp2p.DisableMetrics(): go-libp2p's collectors are
// package globals with no per-host label, so two registries would show the
// same series. A second call in the same process returns ErrProcessWideTaken.
//
// The returned stop function shuts the meter provider down; call it when the
// node stops.
func ProcessWide(reg *prometheus.Registry) (prometheus.Registerer, func(context.Context) error, error) {
	if !processWideTaken.CompareAndSwap(false, true) {
		return nil, nil, ErrProcessWideTaken
	}
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		processWideTaken.Store(false)
		return nil, nil, fmt.Errorf("start the OpenTelemetry Prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	otel.SetMeterProvider(mp)
	stop := func(ctx context.Context) error {
		if err := mp.Shutdown(ctx); err != nil {
			return fmt.Errorf("stop the OpenTelemetry meter provider: %w", err)
		}
		return nil
	}
	return reg, stop, nil
}
