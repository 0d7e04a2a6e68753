package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/metrics"
)

// Metrics are the API's collectors on a node's registry, which /metrics
// serves: requests by route and status class, and refusals of the guard.
type Metrics struct {
	reg          *prometheus.Registry
	httpRequests *prometheus.CounterVec
	refused      *prometheus.CounterVec
}

// NewMetrics registers the API's collectors on reg.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	m := &Metrics{
		reg: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metrics.HTTPRequests,
			Help: "HTTP API requests, by route and status class.",
		}, []string{"route", "code"}),
		refused: metrics.CounterVec(reg, metrics.APIRefused, "HTTP requests refused by the API's guard, by reason.", "reason",
			metrics.RefusedHost, metrics.RefusedCrossOrigin, metrics.RefusedToken, metrics.RefusedContentType),
	}
	reg.MustRegister(m.httpRequests)
	return m
}

// handler serves the registry at /metrics.
func (m *Metrics) handler() http.Handler { return metrics.Handler(m.reg) }

// refuse counts a refusal of the guard; a nil Metrics counts nothing.
func (m *Metrics) refuse(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}
