// Package metrics holds what murmur's metrics share: a node's registry (New:
// the Go and process collectors; each node has its own, so several nodes in
// one process, as in tests, never share murmur's series), its handler, the
// names of murmur's metrics and the bounded values of their labels, which
// the dashboard generator, the web page and tests use too, helpers to
// register collectors with their series present from the start, and Value,
// to read one series back. Each part of a node builds and registers its own
// collectors on that registry: p2p (the network), query/netsearch (network
// searches), node (posts, the index, searches), api (HTTP) and crawl.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Names of murmur's metrics.
const (
	// node: posts, the index and the searches it runs; api: HTTP; p2p: the
	// network; query/netsearch: network searches.
	PostsAccepted      = "murmur_posts_accepted_total"
	PostsRejected      = "murmur_posts_rejected_total"
	IndexBatchSeconds  = "murmur_index_batch_duration_seconds"
	IndexBatchPosts    = "murmur_index_batch_posts"
	IndexDocuments     = "murmur_index_documents"
	IndexDiskBytes     = "murmur_index_disk_bytes"
	IndexRecovered     = "murmur_index_recovered"
	IndexReadPanics    = "murmur_index_read_panics_total"
	SearchSeconds      = "murmur_search_duration_seconds"
	SearchRequests     = "murmur_search_requests_total"
	HTTPRequests       = "murmur_http_requests_total"
	APIRefused         = "murmur_api_refused_total"
	PeersConnected     = "murmur_peers_connected"
	RoutingTablePeers  = "murmur_dht_routing_table_peers"
	KeysOwned          = "murmur_keys_owned"
	KeyPostings        = "murmur_key_postings"
	KeysUnderReplicate = "murmur_keys_under_replicated"
	HandoffPosts       = "murmur_replication_handoff_posts_total"
	RepairPasses       = "murmur_repair_passes_total"
	RepairPassSeconds  = "murmur_repair_pass_duration_seconds"
	RepairLastSuccess  = "murmur_repair_last_success_timestamp_seconds"
	StoreRequests      = "murmur_store_requests_total"
	StorePosts         = "murmur_store_posts_total"
	PlacementShort     = "murmur_placement_short_total"
	OwnerLookups       = "murmur_owner_lookups_total"
	// SurveyLookups counts the DHT lookups of surveys of the keyspace
	// beyond the routing table, and SurveyedServers is the servers the
	// last survey found (zero while the routing table holds the network).
	SurveyLookups      = "murmur_survey_lookups_total"
	SurveyedServers    = "murmur_surveyed_servers"
	EvictedPosts       = "murmur_evicted_posts_total"
	ProtocolBytes      = "murmur_protocol_bytes_total"
	ProtocolMessages   = "murmur_protocol_messages_total"
	SearchServed       = "murmur_search_served_total"
	QueryRescored      = "murmur_query_rescored_hits_total"
	OwnerDisagreements = "murmur_owner_disagreements_total"
	Refused            = "murmur_refused_total"
	QueryPhaseSeconds  = "murmur_query_phase_duration_seconds"
	QueryPeersAsked    = "murmur_query_peers_asked"
	QueryPeersFailed   = "murmur_query_peers_failed"
	QueryPartial       = "murmur_query_partial_total"
	// RequestsPaced counts the node's requests to peers that waited for
	// the peer's rate, and RequestsUnsent those given up unsent because
	// the wait would outlast their deadline (by protocol).
	RequestsPaced  = "murmur_requests_paced_total"
	RequestsUnsent = "murmur_requests_unsent_total"
	// RequestsLent counts the peers' requests an owner served beyond
	// their rate from its spare capacity, and RequestsBorrowed the node's
	// own requests sent beyond a peer's rate on the spare capacity the
	// peer had lent it, by protocol and outcome (ok, refused).
	RequestsLent      = "murmur_requests_lent_total"
	RequestsBorrowed  = "murmur_requests_borrowed_total"
	LiveSubscriptions = "murmur_live_subscriptions"
	// DHTServer is 1 while the node serves the DHT and owns keys, 0 while it
	// runs as a DHT client (unreachable, or --dht-mode client).
	DHTServer = "murmur_dht_server"
	// Reachability is 1 for AutoNAT's current verdict on the node
	// (reachability label: unknown, public, private), 0 for the others.
	Reachability = "murmur_reachability"
	// HolePunches counts hole punches (DCUtR) by outcome.
	HolePunches = "murmur_hole_punches_total"
	LivePushes  = "murmur_live_pushes_total"
	LiveDropped = "murmur_live_dropped_total"
	// crawl
	CrawlFetches       = "murmur_crawl_fetches_total"
	CrawlItemsIngested = "murmur_crawl_items_ingested_total"
	CrawlFetchSeconds  = "murmur_crawl_fetch_duration_seconds"
	CrawlSources       = "murmur_crawl_sources"
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
	// Outcomes of requests, repair passes and stored posts.
	OutcomeOK          = "ok"
	OutcomeError       = "error"
	OutcomeRejected    = "rejected"
	OutcomeRateLimited = "rate_limited"
	OutcomeAccepted    = "accepted"
	// OutcomeRefused: a request a peer refused (reset) unanswered.
	OutcomeRefused = "refused"
	// OutcomeBusy: a search refused because the node ran as many as it
	// allows.
	OutcomeBusy = "busy"
	// OutcomeSuccess and OutcomeFailure: hole punches.
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"

	// ProtocolStore, ProtocolSync and ProtocolSearch are murmur's wire
	// protocols, the values of the protocol label.
	ProtocolStore  = "store"
	ProtocolSync   = "sync"
	ProtocolSearch = "search"
	// ProtocolStats carries key counts and collection statistics for global
	// ranking.
	ProtocolStats = "stats"
	// ProtocolLive carries standing searches and the posts they match.
	ProtocolLive = "live"
	// ProtocolDialback carries a node's request to be dialed back, its
	// check of its own reachability.
	ProtocolDialback = "dialback"
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
	RefusedIdentity    = "identity"     // a peer ID that does not solve the network's puzzle
	RefusedPostWork    = "post_work"    // a post of an author new to the node, without the network's proof of work

	// PhasePlan, PhaseFanout and PhaseMerge are the phases of a network
	// search.
	PhasePlan   = "plan"
	PhaseFanout = "fanout"
	PhaseMerge  = "merge"
)

// RefusedReasons lists, per protocol, the reasons murmur_refused_total
// counts; each series exists from the start, at zero.
var RefusedReasons = map[string][]string{
	ProtocolStore:    {RefusedIdentity, RefusedRateLimited, RefusedBusy, RefusedSlowRequest, RefusedTooLarge, RefusedMemory, RefusedMalformed, RefusedNotOwner, RefusedAuthorRate, RefusedPostWork, RefusedDiskFull, RefusedWrongAuthor},
	ProtocolSync:     {RefusedIdentity, RefusedRateLimited, RefusedBusy, RefusedSlowRequest, RefusedTooLarge, RefusedMemory, RefusedMalformed, RefusedWorkBudget, RefusedWrongAuthor},
	ProtocolSearch:   {RefusedIdentity, RefusedRateLimited, RefusedBusy, RefusedSlowRequest, RefusedTooLarge, RefusedMemory, RefusedMalformed},
	ProtocolStats:    {RefusedIdentity, RefusedRateLimited, RefusedBusy, RefusedSlowRequest, RefusedTooLarge, RefusedMemory, RefusedMalformed, RefusedImplausible, RefusedOutvoted},
	ProtocolLive:     {RefusedIdentity, RefusedRateLimited, RefusedBusy, RefusedSlowRequest, RefusedTooLarge, RefusedMemory, RefusedMalformed, RefusedNotOwner},
	ProtocolConn:     {RefusedBanned, RefusedIdentity},
	ProtocolDialback: {RefusedIdentity, RefusedRateLimited, RefusedBusy, RefusedSlowRequest, RefusedTooLarge, RefusedMemory, RefusedMalformed},
}

// New makes a node's registry, with the Go and process collectors.
func New() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Or is reg, or a registry of its own when reg is nil: a part built
// without a registry still counts, where nobody reads it.
func Or(reg prometheus.Registerer) prometheus.Registerer {
	if reg == nil {
		return prometheus.NewRegistry()
	}
	return reg
}

// Handler serves a registry in the Prometheus exposition format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// CounterVec registers a counter vector with one label, each of values
// present from the start at zero, so that dashboards and rates see it
// before its first event.
func CounterVec(reg prometheus.Registerer, name, help, label string, values ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	for _, x := range values {
		v.WithLabelValues(x)
	}
	reg.MustRegister(v)
	return v
}

// Counter registers a counter.
func Counter(reg prometheus.Registerer, name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	reg.MustRegister(c)
	return c
}

// Gauge registers a gauge.
func Gauge(reg prometheus.Registerer, name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	reg.MustRegister(g)
	return g
}

// GaugeFunc registers a gauge whose value is read from f at scrape time.
func GaugeFunc(reg prometheus.Registerer, name, help string, f func() float64) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// CounterValue reads a counter's value.
func CounterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// Value reads a metric from g: the sum of its series whose labels include
// the given name and value pairs (a histogram's sample count). It is 0 for
// a metric g does not have.
func Value(g prometheus.Gatherer, name string, labels ...string) float64 {
	families, err := g.Gather()
	if err != nil {
		return 0
	}
	return ValueIn(families, name, labels...)
}

// ValueIn is Value over families gathered once: a reader of several
// values gathers once for all of them (a gathering reads the process's
// files in /proc, a millisecond or more).
func ValueIn(families []*dto.MetricFamily, name string, labels ...string) float64 {
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			case m.Untyped != nil:
				sum += m.Untyped.GetValue()
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
