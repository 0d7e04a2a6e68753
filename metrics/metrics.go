// Package metrics holds a node's Prometheus registry and the collectors murmur
// exports at /metrics. Each node has its own registry, so several nodes in one
// process (tests) never share murmur's series.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Rejection reasons: the bounded label values of murmur_posts_rejected_total.
const (
	ReasonEmpty        = "empty"
	ReasonTooLong      = "too_long"
	ReasonInvalidUTF8  = "invalid_utf8"
	ReasonBadField     = "bad_field"
	ReasonBadSignature = "bad_signature"
	ReasonBadID        = "bad_id"
	ReasonDeleted      = "deleted"
	ReasonBadJSON      = "bad_json"
	ReasonTooLarge     = "too_large"
	ReasonOther        = "other"
)

// Node is the set of collectors of one node.
type Node struct {
	// Registry holds every collector below plus the Go and process collectors.
	Registry *prometheus.Registry

	// PostsAccepted counts posts stored, by how they arrived (api, import).
	PostsAccepted *prometheus.CounterVec
	// PostsRejected counts posts refused, by reason (the Reason* constants).
	PostsRejected *prometheus.CounterVec
	// IndexBatchSeconds is the time to persist one index batch.
	IndexBatchSeconds prometheus.Histogram
	// IndexBatchPosts is the number of posts in one index batch.
	IndexBatchPosts prometheus.Histogram
	// SearchSeconds is the latency of searches, by scope (local, network).
	SearchSeconds *prometheus.HistogramVec
	// SearchRequests counts searches by outcome (ok, bad_request, error).
	SearchRequests *prometheus.CounterVec
	// HTTPRequests counts API requests by route and status class.
	HTTPRequests *prometheus.CounterVec
}

// New makes a node's registry with murmur's collectors and the Go and process
// collectors registered.
func New() *Node {
	reg := prometheus.NewRegistry()
	m := &Node{
		Registry: reg,
		PostsAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murmur_posts_accepted_total",
			Help: "Posts stored in the local index, by how they arrived.",
		}, []string{"source"}),
		PostsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murmur_posts_rejected_total",
			Help: "Posts refused, by reason.",
		}, []string{"reason"}),
		IndexBatchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "murmur_index_batch_duration_seconds",
			Help:    "Time to index and persist one batch of posts.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		IndexBatchPosts: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "murmur_index_batch_posts",
			Help:    "Posts in one index batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7),
		}),
		SearchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "murmur_search_duration_seconds",
			Help:    "Latency of searches served by the API, by scope.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}, []string{"scope"}),
		SearchRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murmur_search_requests_total",
			Help: "Searches served by the API, by outcome.",
		}, []string{"outcome"}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murmur_http_requests_total",
			Help: "HTTP API requests, by route and status class.",
		}, []string{"route", "code"}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.PostsAccepted, m.PostsRejected, m.IndexBatchSeconds, m.IndexBatchPosts,
		m.SearchSeconds, m.SearchRequests, m.HTTPRequests,
	)
	return m
}

// GaugeFunc registers a gauge whose value is read from f at scrape time.
func (m *Node) GaugeFunc(name, help string, f func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Node) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
