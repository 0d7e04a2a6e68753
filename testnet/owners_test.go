package testnet_test

import (
	"context"
	"slices"
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/testnet"
)

// trueOwners is the R live DHT servers closest to key by XOR distance: what every
// node must agree on, computed from the whole membership.
func trueOwners(net *testnet.Net, key string, r int) []peer.ID {
	var ids []peer.ID
	for _, nd := range net.Alive() {
		if nd.Net().OwnsKeys() {
			ids = append(ids, nd.Net().ID())
		}
	}
	target := kb.ConvertKey(key)
	slices.SortFunc(ids, func(a, b peer.ID) int {
		da, db := kb.Xor(kb.ConvertPeerID(a), target), kb.Xor(kb.ConvertPeerID(b), target)
		return slices.Compare(da, db)
	})
	return ids[:min(r, len(ids))]
}

// wrongOwners lists keys for which one of the asking nodes names other
// owners than the true ones.
func wrongOwners(t *testing.T, net *testnet.Net, askers []*testnet.Member, want map[string][]string) []string {
	t.Helper()
	var bad []string
	for key := range want {
		truth := trueOwners(net, key, p2p.DefaultReplicas)
		for _, nd := range askers {
			got, err := nd.Net().Owners(context.Background(), key)
			if err != nil || !slices.Equal(got, truth) {
				bad = append(bad, key)
				break
			}
		}
	}
	return bad
}

func ownerLookups(net *testnet.Net) float64 {
	total := 0.0
	for _, nd := range net.Alive() {
		total += metrics.Value(nd.Metrics(), metrics.OwnerLookups)
	}
	return total
}

// TestOwnersBeyondTheRoutingTable runs a network past the size where a
// node's routing table names the owners (20 peers), so owners come from DHT
// lookups: every node must still agree on the true R closest owners of every
// key, posts must reach them, repair must restore them after 3 nodes die,
// and a few lookups per node must cover all of it, not one per key.
func TestOwnersBeyondTheRoutingTable(t *testing.T) {
	nodes, n := 26, 400
	if raceEnabled {
		nodes, n = 23, 100
	}
	if testing.Short() {
		t.Skip("starts 26 nodes; skipped in -short")
	}
	entries := sample(t, n)
	net := testnet.Start(t, nodes, testnet.Options{})
	const R = p2p.DefaultReplicas
	for _, nd := range net.Nodes {
		if sz := nd.Net().RoutingTableSize(); sz < 20 {
			t.Fatalf("node %d has %d peers in its routing table; the test needs 20 or more for owners to come from lookups", nd.Index, sz)
		}
	}

	res := importEntries(t, net.Nodes[0], entries)
	if res.Accepted != len(entries) || res.UnderReplicated != 0 {
		t.Fatalf("import: %+v, want %d accepted, none under-replicated", res, len(entries))
	}
	want, _ := expectedKeys(t, net.Nodes[0])
	askers := []*testnet.Member{net.Nodes[0], net.Nodes[nodes/2], net.Nodes[nodes-1]}
	if bad := wrongOwners(t, net, askers, want); len(bad) > 0 {
		t.Fatalf("%d of %d keys: a node names other owners than the %d closest, e.g. %v", len(bad), len(want), R, bad[:min(5, len(bad))])
	}
	copies := copiesAtOwners(t, net.Nodes[nodes-1], want)
	if s := short(copies, want, R); len(s) > 0 {
		t.Fatalf("%d of %d keys have fewer than %d copies at their owners, e.g. %v", len(s), len(want), R, s[:min(5, len(s))])
	}
	lookups := ownerLookups(net)
	t.Logf("%d posts under %d keys on %d nodes: %.0f owner lookups in all (%.1f per node)", len(entries), len(want), nodes, lookups, lookups/float64(nodes))
	if lookups == 0 {
		t.Fatalf("no owner lookups: the nodes did not leave the routing-table shortcut")
	}
	if lookups > float64(len(want))/4 {
		t.Fatalf("%.0f owner lookups for %d keys: owners are being looked up key by key", lookups, len(want))
	}

	// Kill 3 abruptly: every node drops them and repair restores R copies
	// at the new true owners.
	for _, i := range []int{3, 9, 15} {
		net.Kill(i)
	}
	if s := short(holders(net, want), want, 1); len(s) > 0 {
		t.Fatalf("%d keys lost every copy after 3 of %d nodes died, e.g. %v", len(s), nodes, s[:min(5, len(s))])
	}
	start := time.Now()
	net.WaitFor("true owners and R copies on the survivors", 4*time.Minute, func() bool {
		return len(wrongOwners(t, net, askers, want)) == 0 &&
			len(short(copiesAtOwners(t, net.Nodes[nodes-1], want), want, R)) == 0
	})
	t.Logf("repair after 3 deaths: %v; %.0f owner lookups in all", time.Since(start), ownerLookups(net))
}
