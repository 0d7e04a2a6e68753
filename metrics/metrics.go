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

	// The network: set by p2p. Every labelled series below exists from New
	// on, at zero, so dashboards and rates see a node before its first event.

	// PeersConnected is the number of peers the libp2p host is connected to.
	PeersConnected prometheus.Gauge
	// RoutingTablePeers is the number of peers in the DHT routing table.
	RoutingTablePeers prometheus.Gauge
	// KeysOwned is the number of keys (term shards, hot-term shards, author
	// shards) this node holds as one of their R closest owners.
	KeysOwned prometheus.Gauge
	// KeyPostings is the number of posts held per key class (the Class*
	// constants): a post stored under three terms counts three times.
	KeyPostings *prometheus.GaugeVec
	// KeysUnderReplicated is the number of held keys whose last repair pass
	// found fewer than R owners holding them.
	KeysUnderReplicated prometheus.Gauge
	// HandoffPosts counts posts handed to new owners by repair.
	HandoffPosts prometheus.Counter
	// RepairPasses counts repair passes by outcome (OutcomeOK, OutcomeError).
	RepairPasses *prometheus.CounterVec
	// RepairPassSeconds is the duration of one repair pass over every held key.
	RepairPassSeconds prometheus.Histogram
	// RepairLastSuccess is the Unix time of the last repair pass that ended
	// without error; New sets it to the node's start, so the lag it shows
	// grows from the start until the first pass succeeds.
	RepairLastSuccess prometheus.Gauge
	// StoreRequests counts store requests served to peers, by outcome
	// (OutcomeOK, OutcomeRejected, OutcomeError, OutcomeRateLimited).
	StoreRequests *prometheus.CounterVec
	// StorePosts counts posts in store requests served to peers, by outcome
	// (OutcomeAccepted, OutcomeRejected).
	StorePosts *prometheus.CounterVec
	// PlacementShort counts writes that did not reach W acknowledgements.
	PlacementShort prometheus.Counter
	// OwnerLookups counts DHT lookups for the owners of a key; each teaches
	// the owners of a whole region of the keyspace.
	OwnerLookups prometheus.Counter
	// EvictedPosts counts copies a node dropped because every key of the
	// post is owned, and held, by other nodes.
	EvictedPosts prometheus.Counter
	// ProtocolBytes counts bytes on murmur's own protocols, by protocol
	// (Protocol* constants) and direction (DirectionIn, DirectionOut).
	ProtocolBytes *prometheus.CounterVec

	// Queries across the network: set by query and p2p.

	// QueryPhaseSeconds is the time a network search spends in each phase
	// (PhasePlan, PhaseFanout, PhaseMerge).
	QueryPhaseSeconds *prometheus.HistogramVec
	// QueryPeersAsked is the number of peers one network search asked.
	QueryPeersAsked prometheus.Histogram
	// QueryPeersFailed is the number of peers that failed or timed out in
	// one network search.
	QueryPeersFailed prometheus.Histogram
	// QueryPartial counts network searches answered partially (a shard
	// had no owner that answered).
	QueryPartial prometheus.Counter
	// SearchServed counts searches served to peers, by outcome (OutcomeOK,
	// OutcomeError, OutcomeRateLimited, OutcomeRejected).
	SearchServed *prometheus.CounterVec
	// Refused counts what the node refused of what peers sent, by protocol
	// (Protocol*) and reason (Refused*): whole requests, posts, keys of a
	// post, tombstones and statistics.
	Refused *prometheus.CounterVec

	// The node's own surface and its index: set by api and node.

	// APIRefused counts HTTP requests the API's guard refused, by reason
	// (the Refused* constants).
	APIRefused *prometheus.CounterVec
	// IndexRecovered is 1 when the node found its index damaged at start,
	// moved it aside and started with an empty one, which repair refills.
	IndexRecovered prometheus.Gauge
	// IndexReadPanics counts panics inside the index library while reading,
	// turned into errors.
	IndexReadPanics prometheus.Counter
}

// Reasons of murmur_api_refused_total.
const (
	// RefusedHost: the Host header named neither this node nor an IP address.
	RefusedHost = "host"
	// RefusedCrossOrigin: a page on another site tried to change state.
	RefusedCrossOrigin = "cross_origin"
	// RefusedToken: a request from another machine lacked the API token.
	RefusedToken = "token"
	// RefusedContentType: an API body that is not JSON.
	RefusedContentType = "content_type"
)

// Bounded label values of the network and query collectors.
const (
	// ClassTerm, ClassHot and ClassAuthor are the key classes of
	// murmur_key_postings: term shards, split shards of hot terms, author
	// shards.
	ClassTerm   = "term"
	ClassHot    = "hot"
	ClassAuthor = "author"

	// Outcomes of requests, repair passes and stored posts.
	OutcomeOK          = "ok"
	OutcomeError       = "error"
	OutcomeRejected    = "rejected"
	OutcomeRateLimited = "rate_limited"
	OutcomeAccepted    = "accepted"
	// OutcomeBusy: a search refused because the node ran as many as it
	// allows.
	OutcomeBusy = "busy"

	// ProtocolStore, ProtocolSync and ProtocolSearch are murmur's wire
	// protocols, the values of the protocol label.
	ProtocolStore  = "store"
	ProtocolSync   = "sync"
	ProtocolSearch = "search"
	// ProtocolStats carries key counts and collection statistics for global
	// ranking.
	ProtocolStats = "stats"
	// ProtocolConn labels what concerns a peer's connections as a whole.
	ProtocolConn = "conn"
	// DirectionIn and DirectionOut are the values of the direction label.
	DirectionIn  = "in"
	DirectionOut = "out"

	// Reasons a node refuses what a peer sent: the values of the reason
	// label of murmur_refused_total.
	RefusedRateLimited = "rate_limited" // over the peer's request rate
	RefusedBusy        = "busy"         // no handler slot of the protocol came free in time
	RefusedSlowRequest = "slow_request" // the request did not arrive whole in time
	RefusedTooLarge    = "too_large"    // over the message size bound
	RefusedMemory      = "memory"       // the resource manager refused its memory
	RefusedMalformed   = "malformed"    // not a well-formed message within the bounds
	RefusedWorkBudget  = "work_budget"  // over the peer's sync work per second
	RefusedNotOwner    = "not_owner"    // a key this node does not own
	RefusedAuthorRate  = "author_rate"  // over the author's post rate at this owner
	RefusedDiskFull    = "disk_full"    // free disk space under the watermark
	RefusedWrongAuthor = "wrong_author" // a tombstone not signed by the post's author
	RefusedImplausible = "implausible"  // statistics no honest node could send
	RefusedOutvoted    = "outvoted"     // figures the other owners of the same keys contradict
	RefusedBanned      = "banned"       // a peer cut off for a while: its requests kept being refused

	// PhasePlan, PhaseFanout and PhaseMerge are the phases of a network
	// search.
	PhasePlan   = "plan"
	PhaseFanout = "fanout"
	PhaseMerge  = "merge"
)

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
	m.newNetwork()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.PostsAccepted, m.PostsRejected, m.IndexBatchSeconds, m.IndexBatchPosts,
		m.SearchSeconds, m.SearchRequests, m.HTTPRequests,
		m.PeersConnected, m.RoutingTablePeers, m.KeysOwned, m.KeyPostings,
		m.KeysUnderReplicated, m.HandoffPosts, m.RepairPasses, m.RepairPassSeconds,
		m.RepairLastSuccess, m.StoreRequests, m.StorePosts, m.PlacementShort,
		m.OwnerLookups, m.EvictedPosts, m.ProtocolBytes, m.QueryPhaseSeconds, m.QueryPeersAsked, m.QueryPeersFailed,
		m.QueryPartial, m.SearchServed, m.Refused,
	)
	m.newSurface()
	return m
}

// newSurface makes and registers the collectors of the API guard and of the
// index's recovery, each labelled series at zero.
func (m *Node) newSurface() {
	m.APIRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "murmur_api_refused_total",
		Help: "HTTP requests refused by the API's guard, by reason.",
	}, []string{"reason"})
	for _, r := range []string{RefusedHost, RefusedCrossOrigin, RefusedToken, RefusedContentType} {
		m.APIRefused.WithLabelValues(r)
	}
	m.IndexRecovered = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "murmur_index_recovered",
		Help: "1 when the index was found damaged at start and replaced by an empty one that repair refills.",
	})
	m.IndexReadPanics = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "murmur_index_read_panics_total",
		Help: "Panics inside the index library while reading, turned into errors.",
	})
	m.Registry.MustRegister(m.APIRefused, m.IndexRecovered, m.IndexReadPanics)
}

// newNetwork makes the network and query collectors, each labelled series
// at zero.
func (m *Node) newNetwork() {
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	counterVec := func(name, help, label string, values ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
		for _, x := range values {
			v.WithLabelValues(x)
		}
		return v
	}
	// Peers per query: 1 to 256, the bound of a best-effort fan-out.
	peerBuckets := []float64{0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256}
	m.PeersConnected = gauge("murmur_peers_connected", "Peers the libp2p host is connected to.")
	m.RoutingTablePeers = gauge("murmur_dht_routing_table_peers", "Peers in the DHT routing table.")
	m.KeysOwned = gauge("murmur_keys_owned", "Keys (term, hot-term and author shards) this node holds as an owner.")
	m.KeyPostings = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "murmur_key_postings",
		Help: "Posts held per key class; a post held under several keys counts once per key.",
	}, []string{"class"})
	for _, c := range []string{ClassTerm, ClassHot, ClassAuthor} {
		m.KeyPostings.WithLabelValues(c)
	}
	m.KeysUnderReplicated = gauge("murmur_keys_under_replicated", "Held keys that the last repair pass found on fewer than R owners.")
	m.HandoffPosts = counter("murmur_replication_handoff_posts_total", "Posts handed to new owners by repair.")
	m.RepairPasses = counterVec("murmur_repair_passes_total", "Repair passes over the held keys, by outcome.", "outcome", OutcomeOK, OutcomeError)
	m.RepairPassSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "murmur_repair_pass_duration_seconds",
		Help:    "Time of one repair pass over every held key.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
	})
	m.RepairLastSuccess = gauge("murmur_repair_last_success_timestamp_seconds", "Unix time of the last repair pass without error (the node's start until one succeeds).")
	m.RepairLastSuccess.SetToCurrentTime()
	m.StoreRequests = counterVec("murmur_store_requests_total", "Store requests served to peers, by outcome.", "outcome", OutcomeOK, OutcomeRejected, OutcomeError, OutcomeRateLimited)
	m.StorePosts = counterVec("murmur_store_posts_total", "Posts in store requests served to peers, by outcome.", "outcome", OutcomeAccepted, OutcomeRejected)
	m.PlacementShort = counter("murmur_placement_short_total", "Writes that did not reach W owner acknowledgements.")
	m.OwnerLookups = counter("murmur_owner_lookups_total", "DHT lookups for the owners of a key; each covers a region of the keyspace.")
	m.EvictedPosts = counter("murmur_evicted_posts_total", "Copies dropped because other nodes own and hold every key of the post.")
	m.ProtocolBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "murmur_protocol_bytes_total",
		Help: "Bytes on murmur's wire protocols, by protocol and direction.",
	}, []string{"protocol", "direction"})
	for _, p := range []string{ProtocolStore, ProtocolSync, ProtocolSearch, ProtocolStats} {
		for _, d := range []string{DirectionIn, DirectionOut} {
			m.ProtocolBytes.WithLabelValues(p, d)
		}
	}
	m.QueryPhaseSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "murmur_query_phase_duration_seconds",
		Help:    "Time a network search spends in each phase.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
	}, []string{"phase"})
	for _, p := range []string{PhasePlan, PhaseFanout, PhaseMerge} {
		m.QueryPhaseSeconds.WithLabelValues(p)
	}
	m.QueryPeersAsked = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "murmur_query_peers_asked", Help: "Peers asked by one network search.", Buckets: peerBuckets,
	})
	m.QueryPeersFailed = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "murmur_query_peers_failed", Help: "Shards (keys) of one network search that no owner answered, or peers that failed a best-effort one.", Buckets: peerBuckets,
	})
	m.QueryPartial = counter("murmur_query_partial_total", "Network searches answered partially.")
	m.SearchServed = counterVec("murmur_search_served_total", "Searches served to peers, by outcome.", "outcome", OutcomeOK, OutcomeError, OutcomeRateLimited, OutcomeRejected)
	m.Refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "murmur_refused_total",
		Help: "What the node refused of what peers sent (requests, posts, keys, tombstones, statistics), by protocol and reason.",
	}, []string{"protocol", "reason"})
	for protocol, reasons := range RefusedReasons {
		for _, r := range reasons {
			m.Refused.WithLabelValues(protocol, r)
		}
	}
}

// RefusedReasons lists, per protocol, the reasons murmur_refused_total
// counts; each series exists from the start, at zero.
var RefusedReasons = map[string][]string{
	ProtocolStore:  {RefusedRateLimited, RefusedBusy, RefusedSlowRequest, RefusedTooLarge, RefusedMemory, RefusedMalformed, RefusedNotOwner, RefusedAuthorRate, RefusedDiskFull, RefusedWrongAuthor},
	ProtocolSync:   {RefusedRateLimited, RefusedBusy, RefusedSlowRequest, RefusedTooLarge, RefusedMemory, RefusedMalformed, RefusedWorkBudget, RefusedWrongAuthor},
	ProtocolSearch: {RefusedRateLimited, RefusedBusy, RefusedSlowRequest, RefusedTooLarge, RefusedMemory, RefusedMalformed},
	ProtocolStats:  {RefusedRateLimited, RefusedBusy, RefusedSlowRequest, RefusedTooLarge, RefusedMemory, RefusedMalformed, RefusedImplausible, RefusedOutvoted},
	ProtocolConn:   {RefusedBanned},
}

// GaugeFunc registers a gauge whose value is read from f at scrape time.
func (m *Node) GaugeFunc(name, help string, f func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Node) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
