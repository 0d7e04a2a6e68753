package p2p

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"
)

// Protocol constants. They are part of the wire protocol: nodes that differ
// on any of them place posts differently, so a change is a new version.
const (
	// ProtocolVersion versions the store and sync protocols together with the
	// key scheme and the protocol analyzer (index.AnalyzerVersion).
	ProtocolVersion = "1.0.0"

	// DefaultNetwork is the network a node joins unless told otherwise.
	DefaultNetwork = "main"

	// DefaultReplicas (R) is how many owners each key has.
	DefaultReplicas = 3
	// DefaultWriteQuorum (W) is how many owners of each key must acknowledge
	// a post before the writer reports it accepted.
	DefaultWriteQuorum = 2

	// HotShards is how many keys a hot term, an author or a label is split
	// into, by the first hex digit of the post ID.
	HotShards = 16

	// MaxMessageSize bounds one message of the store and sync protocols,
	// like the DHT's own network.MessageSizeMax.
	MaxMessageSize = 4 << 20
	// MaxPostsPerStore bounds the posts of one store request.
	MaxPostsPerStore = 500
	// MaxKeysPerPost bounds the keys a post may be sent under: a post of
	// 1,000 characters has at most 500 distinct words, plus author and label.
	MaxKeysPerPost = 600
	// MaxDigestsPerSync bounds the key digests of one sync request.
	MaxDigestsPerSync = 20000
	// MaxIDsPerSync bounds the post IDs of one sync request or answer.
	MaxIDsPerSync = 20000

	// StreamTimeout bounds one request and its answer on a stream.
	StreamTimeout = 30 * time.Second
	// MaxConcurrentHandlers bounds the inbound store and sync requests served
	// at once; the rest wait for a slot until their deadline.
	MaxConcurrentHandlers = 16
	// PeerRequestRate and PeerRequestBurst bound the requests one peer may
	// make per second of each protocol.
	PeerRequestRate  = 50
	PeerRequestBurst = 100
	// PeerSearchRate and PeerSearchBurst bound the searches and statistics
	// requests one peer may make per second: a querier asks an owner once
	// per key of each page it cuts (16 keys for a hot term), so a busy
	// honest querier makes far more of them than store requests, which
	// carry up to 500 posts each. MaxConcurrentSearches bounds the work.
	PeerSearchRate  = 200
	PeerSearchBurst = 400
)

// ProtocolPrefix is the DHT protocol prefix of a network: nodes of different
// networks never answer each other.
func ProtocolPrefix(network string) protocol.ID {
	return protocol.ID("/murmur/" + network)
}

// StoreProtocol is the ID of the store protocol of a network.
func StoreProtocol(network string) protocol.ID {
	return protocol.ID(fmt.Sprintf("/murmur/%s/store/%s", network, ProtocolVersion))
}

// SyncProtocol is the ID of the sync (repair) protocol of a network.
func SyncProtocol(network string) protocol.ID {
	return protocol.ID(fmt.Sprintf("/murmur/%s/sync/%s", network, ProtocolVersion))
}

// SearchProtocol is the ID of the search protocol of a network.
func SearchProtocol(network string) protocol.ID {
	return protocol.ID(fmt.Sprintf("/murmur/%s/search/%s", network, ProtocolVersion))
}

// StatsProtocol is the ID of the stats protocol of a network: key counts
// and collection statistics for global ranking.
func StatsProtocol(network string) protocol.ID {
	return protocol.ID(fmt.Sprintf("/murmur/%s/stats/%s", network, ProtocolVersion))
}

// MDNSService is the mDNS service name of a network.
func MDNSService(network string) string { return "murmur-" + network }
