package p2p

import (
	"github.com/libp2p/go-libp2p"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"

	"github.com/murmur-p2p/murmur/metrics"
)

// Resource-manager limits of murmur's protocols, on top of go-libp2p's
// defaults. A protocol's streams are accounted to its service
// (ServiceName), and each request's memory is reserved in its stream's
// scope before it is read (readRequest), so these bound what inbound
// requests may hold at once: in all, and for any one peer.
const (
	// ServiceStreams bounds a protocol's inbound streams at once.
	ServiceStreams = 512
	// ServicePeerStreams bounds one peer's inbound streams of a protocol
	// at once: a querier asks an owner for up to 16 shards of each of
	// several searches at once.
	ServicePeerStreams = 64
	// ServiceMemory bounds the memory a protocol's requests in flight
	// hold: sixteen requests of MaxMessageSize.
	ServiceMemory = 16 * MaxMessageSize
	// ServicePeerMemory bounds the memory one peer's requests of a
	// protocol hold: four of MaxMessageSize.
	ServicePeerMemory = 4 * MaxMessageSize
)

// resourceLimits adds murmur's service limits to go-libp2p's defaults.
func resourceLimits() rcmgr.ConcreteLimitConfig {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	for _, name := range []string{metrics.ProtocolStore, metrics.ProtocolSync, metrics.ProtocolSearch, metrics.ProtocolStats, metrics.ProtocolLive} {
		svc := ServiceName(name)
		limits.AddServiceLimit(svc, rcmgr.BaseLimit{
			Streams: 2 * ServiceStreams, StreamsInbound: ServiceStreams, StreamsOutbound: ServiceStreams, Memory: ServiceMemory,
		}, rcmgr.BaseLimitIncrease{})
		limits.AddServicePeerLimit(svc, rcmgr.BaseLimit{
			Streams: 2 * ServicePeerStreams, StreamsInbound: ServicePeerStreams, StreamsOutbound: ServicePeerStreams, Memory: ServicePeerMemory,
		}, rcmgr.BaseLimitIncrease{})
	}
	return limits.AutoScale()
}

// newInbound sets the bounds of each protocol's inbound requests.
func (s *Service) newInbound() {
	storeOutcome := func(o string) { s.metrics.storeRequests.WithLabelValues(o).Inc() }
	searchOutcome := func(o string) { s.metrics.searchServed.WithLabelValues(o).Inc() }
	s.storeIn = newInbound(metrics.ProtocolStore, PeerRequestRate, PeerRequestBurst, PeerStoreBytesRate, StoreSlots, storeOutcome)
	s.syncIn = newInbound(metrics.ProtocolSync, PeerRequestRate, PeerRequestBurst, PeerSyncBytesRate, SyncSlots, nil)
	s.searchIn = newInbound(metrics.ProtocolSearch, PeerSearchRate, PeerSearchBurst, PeerQueryBytesRate, MaxConcurrentSearches, searchOutcome)
	s.statsIn = newInbound(metrics.ProtocolStats, PeerSearchRate, PeerSearchBurst, PeerQueryBytesRate, StatsSlots, nil)
	if !s.cfg.NoLending {
		s.searchIn.lendable(SpareSearchRate, SpareSearchBurst, s.metrics.requestsLent.WithLabelValues(metrics.ProtocolSearch))
		s.statsIn.lendable(SpareSearchRate, SpareSearchBurst, s.metrics.requestsLent.WithLabelValues(metrics.ProtocolStats))
	}
	// A standing search holds no slot: live.MaxPerPeer and live.MaxTotal
	// bound them.
	s.liveIn = newInbound(metrics.ProtocolLive, PeerSubscribeRate, PeerSubscribeBurst, PeerQueryBytesRate, 1, nil)
	s.dialbackIn = newInbound(metrics.ProtocolDialback, PeerDialbackRate, PeerDialbackBurst, PeerQueryBytesRate, DialbackSlots, nil)
	s.postBudget = newPeerLimiter(PeerPostRate, PeerPostBurst)
	s.syncWork = newPeerLimiter(SyncWorkRate, SyncWorkBurst)
	s.authorLimits = newKeyedLimiter[string](s.cfg.AuthorRate, s.cfg.AuthorBurst, maxTrackedAuthors)
}
