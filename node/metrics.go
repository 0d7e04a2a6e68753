package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/metrics"
)

// nodeMetrics are the node's own collectors: posts, the index and the
// searches it runs for the API and the page. The network, the search
// coordinator, the API and the crawler register theirs on the same
// registry.
type nodeMetrics struct {
	postsAccepted, postsRejected *prometheus.CounterVec
	batchSeconds, batchPosts     prometheus.Histogram
	searchSeconds                *prometheus.HistogramVec
	searchRequests               *prometheus.CounterVec
	indexRecovered               prometheus.Gauge
	indexReadPanics              prometheus.Counter
}

func newNodeMetrics(reg prometheus.Registerer) *nodeMetrics {
	m := &nodeMetrics{
		// The accepted series exist from the start, at zero, so rates and
		// dashboards see a node that has not been written to yet.
		postsAccepted: metrics.CounterVec(reg, metrics.PostsAccepted, "Posts stored in the local index, by how they arrived.", "source", "api", "import"),
		postsRejected: metrics.CounterVec(reg, metrics.PostsRejected, "Posts refused, by reason.", "reason"),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    metrics.IndexBatchSeconds,
			Help:    "Time to index and persist one batch of posts.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		batchPosts: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    metrics.IndexBatchPosts,
			Help:    "Posts in one index batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7),
		}),
		searchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metrics.SearchSeconds,
			Help:    "Latency of searches served by the API, by scope.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}, []string{"scope"}),
		searchRequests:  metrics.CounterVec(reg, metrics.SearchRequests, "Searches served by the API, by outcome.", "outcome"),
		indexRecovered:  metrics.Gauge(reg, metrics.IndexRecovered, "1 when the index was found damaged at start and replaced by an empty one that repair refills."),
		indexReadPanics: metrics.Counter(reg, metrics.IndexReadPanics, "Panics inside the index library while reading, turned into errors."),
	}
	reg.MustRegister(m.batchSeconds, m.batchPosts, m.searchSeconds)
	return m
}
