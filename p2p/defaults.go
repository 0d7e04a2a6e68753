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
	// key scheme and the protocol analyzer (index.AnalyzerVersion). 3 puts
	// a split term's posts under the nodes of its trie (keyspace.Node,
	// docs/split-keys.md), which a node of 2 refuses as keys the posts do
	// not have. 4 keeps a stop word in one key, which splits by count as
	// any term's does, where 3 split it 16 ways by the post ID's first hex
	// digit from its first post: the two place a stop word's posts under
	// different keys.
	ProtocolVersion = "4.0.0"
	// StatsVersion versions the stats protocol on its own: 2 reports the
	// collection statistics per owner group, so that the owners of the
	// same keys confirm each other's figures.
	// 3 sends the same messages as 2 in CBOR (codec.go); 4 sends them on
	// streams that carry one request after another (streams.go). A node
	// serves all three and asks in the newest its peer serves.
	StatsVersion     = "4.0.0"
	StatsVersionCBOR = "3.0.0"
	StatsVersionJSON = "2.0.0"
	// SearchVersion versions the search protocol on its own: 3 answers a
	// span of a split key's shards with one search (netsearch.Request's
	// Span), which an owner of version 2 would answer for the first
	// shard alone; 4 sends digests as compact entries
	// (netsearch.Response's Digest) and their checksums (DigestSum),
	// which an owner of version 3 would send as hits.
	// 5 sends the same messages as 4 in CBOR (codec.go); 6 sends them on
	// streams that carry one request after another (streams.go). A node
	// serves all three and asks in the newest its peer serves.
	SearchVersion     = "6.0.0"
	SearchVersionCBOR = "5.0.0"
	SearchVersionJSON = "4.0.0"

	// DefaultNetwork is the network a node joins unless told otherwise.
	DefaultNetwork = "main"

	// DefaultReplicas (R) is how many owners each key has.
	DefaultReplicas = 3
	// DefaultWriteQuorum (W) is how many owners of each key must acknowledge
	// a post before the writer reports it accepted.
	DefaultWriteQuorum = 2

	// DefaultPostDifficulty is the proof of work, in leading zero bits of
	// the ID, a post needs at an owner that holds no post of its author:
	// 2^16 hashes, about 1.5 ms of one core here (post.BenchmarkSignWork).
	DefaultPostDifficulty = 16

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
	// SyncWorkRate and SyncWorkBurst bound the work one peer's sync
	// requests make a node do per second, in IDs looked up and digests
	// compared: each costs a dictionary or map lookup, so a node serves
	// any peer's repair, and no peer's flood costs it more than a fraction
	// of a core.
	SyncWorkRate  = 20_000
	SyncWorkBurst = 200_000

	// StreamTimeout bounds one request and its answer on a stream.
	StreamTimeout = 30 * time.Second
	// StreamIdleTimeout is how long a node keeps a stream that carries
	// many requests (SearchVersion, StatsVersion) open with no request
	// on it; MaxRequestsPerStream how many it answers on one, after which
	// it closes it. The asker keeps a stream idle for at most
	// PooledStreamMaxIdle, so that it never sends on one the answerer is
	// closing, and retires it after MaxRequestsPerStream requests.
	StreamIdleTimeout    = 10 * time.Second
	PooledStreamMaxIdle  = StreamIdleTimeout / 2
	MaxRequestsPerStream = 1000
	// PooledStreamsPerPeer bounds the idle streams of one protocol a node
	// keeps to one peer, PooledStreams to all peers together: one for
	// each search of a busy querier's that is asking the peer at once.
	PooledStreamsPerPeer = 8
	PooledStreams        = 256
	// RequestReadTimeout bounds how long a peer may take to send a request
	// whole: 4 MiB at 400 KB/s, or a sender under load. A request is read
	// before it takes a handler slot, so streams that send nothing hold no
	// slot.
	RequestReadTimeout = 10 * time.Second
	// SlotWait bounds how long a request that arrived waits for a slot of
	// its protocol before it is refused as busy.
	SlotWait = 5 * time.Second
	// StoreSlots, SyncSlots and StatsSlots bound the inbound requests of
	// each protocol handled at once (MaxConcurrentSearches for searches):
	// each protocol has its own, so a flood of one never starves another.
	StoreSlots = 8
	SyncSlots  = 4
	StatsSlots = 8
	// PeerRequestRate and PeerRequestBurst bound the requests one peer may
	// make per second of each protocol.
	PeerRequestRate  = 50
	PeerRequestBurst = 100
	// PeerSearchRate and PeerSearchBurst bound the searches and statistics
	// requests one peer may make per second: a querier asks an owner once
	// per key of each page it cuts (16 keys for an author), so a busy
	// honest querier makes far more of them than store requests, which
	// carry up to 500 posts each. MaxConcurrentSearches bounds the work.
	PeerSearchRate  = 200
	PeerSearchBurst = 400
	// SpareSearchRate and SpareSearchBurst bound the searches an owner
	// serves beyond its peers' rates, all peers together (and as many
	// statistics requests, apart): spare capacity it lends only while fewer
	// than half its slots are busy (see inbound.lend). A busy querier then
	// uses an idle network, while a peer within its rate still finds half
	// the slots free of lent work, and the work lent stays bounded.
	SpareSearchRate  = 2000
	SpareSearchBurst = 200
	// PeerPostRate and PeerPostBurst bound the posts and tombstones one
	// peer may send per second over the store protocol, whose signatures
	// the node checks: a writer placing an import, or a holder handing
	// posts to a new owner, stays well under them.
	PeerPostRate  = 2000
	PeerPostBurst = 50_000
	// PeerStoreBytesRate, PeerSyncBytesRate and PeerQueryBytesRate bound
	// the request bytes one peer may send per second on the store, sync,
	// and search and stats protocols, checked on a request's length prefix
	// before it is read and decoded: decoding megabytes of JSON costs more
	// than most requests do. PeerBytesBurst is the burst of each.
	PeerStoreBytesRate = 8 << 20
	PeerSyncBytesRate  = 2 << 20
	PeerQueryBytesRate = 1 << 20
	PeerBytesBurst     = 32 << 20

	// OwnerMargin is how many places beyond the R closest a node still
	// takes posts under a key: the sender's view of the network may be a
	// join or two ahead of or behind its own. A node refuses posts under
	// keys it is farther from (murmur_refused_total{reason="not_owner"}).
	OwnerMargin = 2
	// DefaultAuthorRate and DefaultAuthorBurst bound the new posts one
	// author may write per second at an owner: a person posts far fewer,
	// a crawler or an import a day's worth in a burst.
	DefaultAuthorRate  = 50
	DefaultAuthorBurst = 20_000
	// FreshPostWindow is how recent a post must be to count against its
	// author's rate: older ones are what repair hands to new owners.
	FreshPostWindow = 24 * time.Hour
	// maxTrackedAuthors bounds the authors whose rates an owner tracks.
	maxTrackedAuthors = 65_536

	// latencyProbes bounds the pings in flight at once of peers whose
	// latency the node has not measured (see prober): one more is
	// dropped, and a later Latency call asks again.
	latencyProbes = 4
	// latencyProbeTimeout bounds one such ping: a peer slower than that
	// to answer is no owner to ask first.
	latencyProbeTimeout = 2 * time.Second
	// latencyProbeRetry is how long a peer whose ping failed is not
	// pinged again.
	latencyProbeRetry = 30 * time.Second
	// maxLatencyFailures bounds the peers whose failed pings the node
	// remembers.
	maxLatencyFailures = 4096
)

// ProtocolPrefix is the DHT protocol prefix of a network: nodes of different
// networks never answer each other.
func ProtocolPrefix(network string) protocol.ID {
	return protocol.ID("/murmur/" + network)
}

// KadProtocol is the DHT's protocol in a network (kad-dht's own ID under
// ProtocolPrefix): only the network's DHT servers speak it.
func KadProtocol(network string) protocol.ID {
	return ProtocolPrefix(network) + "/kad/1.0.0"
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
	return protocol.ID(fmt.Sprintf("/murmur/%s/search/%s", network, SearchVersion))
}

// SearchProtocols are the IDs of the search protocol of a network that a
// node serves, the one it asks in first first.
func SearchProtocols(network string) []protocol.ID {
	return []protocol.ID{SearchProtocol(network), SearchProtocolCBOR(network), SearchProtocolJSON(network)}
}

// SearchProtocolCBOR is the ID of the search protocol's version of CBOR
// bodies on a stream per request, which nodes of the version before speak.
func SearchProtocolCBOR(network string) protocol.ID {
	return protocol.ID(fmt.Sprintf("/murmur/%s/search/%s", network, SearchVersionCBOR))
}

// SearchProtocolJSON is the ID of the search protocol's version of JSON
// bodies, which nodes of the version before speak.
func SearchProtocolJSON(network string) protocol.ID {
	return protocol.ID(fmt.Sprintf("/murmur/%s/search/%s", network, SearchVersionJSON))
}

// StatsProtocol is the ID of the stats protocol of a network: key counts
// and collection statistics for global ranking.
func StatsProtocol(network string) protocol.ID {
	return protocol.ID(fmt.Sprintf("/murmur/%s/stats/%s", network, StatsVersion))
}

// StatsProtocols are the IDs of the stats protocol of a network that a
// node serves, the one it asks in first first.
func StatsProtocols(network string) []protocol.ID {
	return []protocol.ID{StatsProtocol(network), StatsProtocolCBOR(network), StatsProtocolJSON(network)}
}

// StatsProtocolCBOR is the ID of the stats protocol's version of CBOR
// bodies on a stream per request, which nodes of the version before speak.
func StatsProtocolCBOR(network string) protocol.ID {
	return protocol.ID(fmt.Sprintf("/murmur/%s/stats/%s", network, StatsVersionCBOR))
}

// StatsProtocolJSON is the ID of the stats protocol's version of JSON
// bodies, which nodes of the version before speak.
func StatsProtocolJSON(network string) protocol.ID {
	return protocol.ID(fmt.Sprintf("/murmur/%s/stats/%s", network, StatsVersionJSON))
}

// MDNSService is the mDNS service name of a network.
func MDNSService(network string) string { return "murmur-" + network }
