package p2p

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
)

// serviceMetrics are the network's collectors, each labelled series
// present from the start at zero.
type serviceMetrics struct {
	peersConnected, routingTablePeers, keysOwned, keysUnderReplicated prometheus.Gauge
	keyPostings                                                       *prometheus.GaugeVec
	handoffPosts, placementShort, ownerLookups, evictedPosts          prometheus.Counter
	surveyLookups                                                     prometheus.Counter
	surveyedServers                                                   prometheus.Gauge
	repairPasses                                                      *prometheus.CounterVec
	repairPassSeconds                                                 prometheus.Histogram
	repairLastSuccess                                                 prometheus.Gauge
	storeRequests, storePosts, searchServed                           *prometheus.CounterVec
	protocolBytes, protocolMessages, refused                          *prometheus.CounterVec
	liveSubs                                                          prometheus.Gauge
	livePushes, liveDropped                                           prometheus.Counter
	dhtServer                                                         prometheus.Gauge
	reachability                                                      *prometheus.GaugeVec
	holePunches                                                       *prometheus.CounterVec
	requestsLent                                                      *prometheus.CounterVec
}

func newServiceMetrics(reg prometheus.Registerer) *serviceMetrics {
	m := &serviceMetrics{
		peersConnected:    metrics.Gauge(reg, metrics.PeersConnected, "Peers the libp2p host is connected to."),
		routingTablePeers: metrics.Gauge(reg, metrics.RoutingTablePeers, "Peers in the DHT routing table."),
		keysOwned:         metrics.Gauge(reg, metrics.KeysOwned, "Keys (terms, split terms' trie nodes, author and label shards) this node holds as an owner."),
		liveSubs:          metrics.Gauge(reg, metrics.LiveSubscriptions, "Standing searches other nodes keep at this node."),
		livePushes:        metrics.Counter(reg, metrics.LivePushes, "Posts pushed to the subscribers of standing searches."),
		liveDropped:       metrics.Counter(reg, metrics.LiveDropped, "Matches of standing searches not pushed: over a search's push rate or its full queue."),
		dhtServer:         metrics.Gauge(reg, metrics.DHTServer, "1 while the node serves the DHT and may own keys, 0 while it runs as a DHT client."),
		requestsLent:      metrics.CounterVec(reg, metrics.RequestsLent, "Peers' requests served beyond their rate from spare capacity, by protocol.", "protocol", metrics.ProtocolSearch, metrics.ProtocolStats),
		holePunches:       metrics.CounterVec(reg, metrics.HolePunches, "Hole punches (DCUtR) to peers behind NAT, by outcome.", "outcome", metrics.OutcomeSuccess, metrics.OutcomeFailure),
		reachability: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metrics.Reachability,
			Help: "1 for AutoNAT's current verdict on this node's reachability (unknown, public, private), 0 for the others.",
		}, []string{"reachability"}),
		keysUnderReplicated: metrics.Gauge(reg, metrics.KeysUnderReplicate, "Held keys that the last repair pass found on fewer than R owners."),
		keyPostings: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metrics.KeyPostings,
			Help: "Posts held per key class; a post held under several keys counts once per key.",
		}, []string{"class"}),
		handoffPosts:    metrics.Counter(reg, metrics.HandoffPosts, "Posts handed to new owners by repair."),
		placementShort:  metrics.Counter(reg, metrics.PlacementShort, "Writes that did not reach W owner acknowledgements."),
		ownerLookups:    metrics.Counter(reg, metrics.OwnerLookups, "DHT lookups for the owners of a key; each covers a region of the keyspace."),
		surveyLookups:   metrics.Counter(reg, metrics.SurveyLookups, "DHT lookups of surveys of the keyspace beyond the routing table, which the totals of a search ask (one survey every 10 minutes while the node searches, once a bucket is full)."),
		surveyedServers: metrics.Gauge(reg, metrics.SurveyedServers, "Servers beyond the routing table that the last survey of the keyspace found (zero while the routing table holds the network)."),
		evictedPosts:    metrics.Counter(reg, metrics.EvictedPosts, "Copies dropped because other nodes own and hold every key of the post."),
		repairPasses:    metrics.CounterVec(reg, metrics.RepairPasses, "Repair passes over the held keys, by outcome.", "outcome", metrics.OutcomeOK, metrics.OutcomeError),
		repairPassSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    metrics.RepairPassSeconds,
			Help:    "Time of one repair pass over every held key.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}),
		repairLastSuccess: metrics.Gauge(reg, metrics.RepairLastSuccess, "Unix time of the last repair pass without error (the node's start until one succeeds)."),
		storeRequests: metrics.CounterVec(reg, metrics.StoreRequests, "Store requests served to peers, by outcome.", "outcome",
			metrics.OutcomeOK, metrics.OutcomeRejected, metrics.OutcomeError, metrics.OutcomeRateLimited),
		storePosts:   metrics.CounterVec(reg, metrics.StorePosts, "Posts in store requests served to peers, by outcome.", "outcome", metrics.OutcomeAccepted, metrics.OutcomeRejected),
		searchServed: metrics.CounterVec(reg, metrics.SearchServed, "Searches served to peers, by outcome.", "outcome", metrics.OutcomeOK, metrics.OutcomeError, metrics.OutcomeRateLimited, metrics.OutcomeRejected),
		protocolBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metrics.ProtocolBytes,
			Help: "Bytes on murmur's wire protocols, by protocol and direction.",
		}, []string{"protocol", "direction"}),
		protocolMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metrics.ProtocolMessages,
			Help: "Messages (requests, answers, pushes) on murmur's wire protocols, by protocol and direction.",
		}, []string{"protocol", "direction"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metrics.Refused,
			Help: "What the node refused of what peers sent (requests, posts, keys, tombstones, statistics), by protocol and reason.",
		}, []string{"protocol", "reason"}),
	}
	for _, c := range []string{keyspace.NameTerm, keyspace.NameAuthor, keyspace.NameLabel} {
		m.keyPostings.WithLabelValues(c)
	}
	for _, p := range []string{metrics.ProtocolStore, metrics.ProtocolSync, metrics.ProtocolSearch, metrics.ProtocolStats, metrics.ProtocolLive, metrics.ProtocolDialback} {
		for _, d := range []string{metrics.DirectionIn, metrics.DirectionOut} {
			m.protocolBytes.WithLabelValues(p, d)
			m.protocolMessages.WithLabelValues(p, d)
		}
	}
	for protocol, reasons := range metrics.RefusedReasons {
		for _, r := range reasons {
			m.refused.WithLabelValues(protocol, r)
		}
	}
	m.repairLastSuccess.SetToCurrentTime()
	reg.MustRegister(m.keyPostings, m.repairPassSeconds, m.protocolBytes, m.protocolMessages, m.refused, m.reachability)
	return m
}

// Sent is what this node has sent on protocol (metrics.Protocol*) so far:
// the messages and bytes that murmur_protocol_messages_total and
// murmur_protocol_bytes_total count with direction out. It reads the two
// counters alone, without gathering the node's registry.
func (s *Service) Sent(protocol string) (messages, bytes float64) {
	return metrics.CounterValue(s.metrics.protocolMessages.WithLabelValues(protocol, metrics.DirectionOut)),
		metrics.CounterValue(s.metrics.protocolBytes.WithLabelValues(protocol, metrics.DirectionOut))
}

// OwnerLookups is how many DHT lookups for owners this node has made
// (murmur_owner_lookups_total).
func (s *Service) OwnerLookups() float64 { return metrics.CounterValue(s.metrics.ownerLookups) }

// HandedOff is how many posts this node's repair passes have handed to
// new owners (murmur_replication_handoff_posts_total).
func (s *Service) HandedOff() float64 { return metrics.CounterValue(s.metrics.handoffPosts) }

// SurveyLookups is how many DHT lookups this node's surveys of the
// keyspace have made (murmur_survey_lookups_total).
func (s *Service) SurveyLookups() float64 { return metrics.CounterValue(s.metrics.surveyLookups) }
