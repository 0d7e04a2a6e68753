package p2p

import (
	"fmt"
	"net"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p-kad-dht/amino"
	"github.com/libp2p/go-libp2p-kbucket/peerdiversity"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	manet "github.com/multiformats/go-multiaddr/net"
)

// ShortIdentityError is the refusal to start a node whose own key does not
// solve the network's identity puzzle: every other node would refuse it.
type ShortIdentityError struct {
	ID         peer.ID
	Bits       int // leading zero bits of the SHA-256 of ID
	Difficulty int // what the network asks
}

func (e *ShortIdentityError) Error() string {
	return fmt.Sprintf("identity %s solves %d bits of the network's identity difficulty %d, so other nodes refuse it", e.ID, e.Bits, e.Difficulty)
}

// The routing table keeps at most DiversityPerCpl peers of one IP group
// (a /16 of IPv4, an ASN of IPv6) per bucket and DiversityPerTable in all,
// kad-dht's Amino defaults: one operator with one address block cannot
// fill the table. Peers on private, loopback and LAN addresses are not
// counted: a home or test network shares one block by nature, and a peer
// that only such an address reaches is on the operator's own network.
const (
	DiversityPerCpl   = amino.DefaultMaxPeersPerIPGroupPerCpl
	DiversityPerTable = amino.DefaultMaxPeersPerIPGroup
)

// diversityFilter is kad-dht's routing-table diversity filter, applied to
// public addresses only.
type diversityFilter struct {
	peerdiversity.PeerIPGroupFilter
}

func newDiversityFilter(h host.Host) *diversityFilter {
	return &diversityFilter{dht.NewRTPeerDiversityFilter(h, DiversityPerCpl, DiversityPerTable)}
}

// Allow lets in any peer of a private group, and asks kad-dht's filter
// about the others.
func (f *diversityFilter) Allow(g peerdiversity.PeerGroupInfo) bool {
	return privateGroup(g.IPGroupKey) || f.PeerIPGroupFilter.Allow(g)
}

// privateGroup reports whether an IP group key stands for a block no
// public address is in: peerdiversity names an IPv4 group by its masked
// address (10.0.0.0, 127.0.0.0, 192.168.0.0, 198.18.0.0...).
func privateGroup(k peerdiversity.PeerIPGroupKey) bool {
	ip := net.ParseIP(string(k))
	if ip == nil {
		return false
	}
	a, err := manet.FromIP(ip)
	return err == nil && !manet.IsPublicAddr(a)
}
