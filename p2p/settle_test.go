package p2p

import (
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/internal/poll"
)

// TestSettlingFollowsTheMembershipAtOnce: once a peer leaves a node's
// view, the node counts as settling from its very next search, not from
// its repair loop's next tick. In that gap the owners it computes already
// follow the new membership, and a new owner among them may hold nothing
// yet: asked alone, it answered a label's shard short without saying so
// (CI's 12-node test, 3 of 12 killed at once).
func TestSettlingFollowsTheMembershipAtOnce(t *testing.T) {
	net := startNetwork(t, 4, func(c *Config) { c.SettleMargin = 10 * time.Millisecond })
	s := net.svcs[0]
	poll.Until(t, "settled", 30*time.Second, 20*time.Millisecond, func() bool { return !s.Settling() })
	gone := net.svcs[3].ID()
	s.dht.RoutingTable().RemovePeer(gone)
	if !s.Settling() {
		t.Fatal("a peer left the routing table, and the node did not count as settling at once")
	}
	for _, k := range []string{"t/river", "t/harbor", "a/x/0"} {
		owners, err := s.Owners(t.Context(), k)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range owners {
			if o == gone {
				t.Fatalf("owners of %s still name the peer that left", k)
			}
		}
	}
}
