package testnet_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
	"github.com/murmur-p2p/murmur/testnet"
)

// TestAClientNodePostsSearchesAndOwnsNothing: 5 server nodes and a node
// that runs the DHT as a client (--dht-mode client, as a home node behind
// NAT does). The client's posts reach their owners among the servers and
// are found from every server; it finds posts written on the servers; it
// is in no routing table, no node names it an owner, and it holds no key
// as an owner.
func TestAClientNodePostsSearchesAndOwnsNothing(t *testing.T) {
	net := testnet.Start(t, 5, testnet.Options{})
	laptop := net.AddClient()
	net.WaitRouting(30 * time.Second)
	if got := laptop.Net().DHTMode(); got != p2p.DHTModeClient {
		t.Fatalf("the client runs the DHT as %s", got)
	}
	ctx := context.Background()
	servers := net.Nodes[:5]

	var fromLaptop []*post.Post
	for i := range 12 {
		p, err := laptop.Publish(ctx, post.Draft{Text: fmt.Sprintf("kestrel sighting %d over the marsh", i)})
		if err != nil {
			t.Fatalf("the client's post %d: %v", i, err)
		}
		fromLaptop = append(fromLaptop, p)
	}
	var fromServers []*post.Post
	for i := range 10 {
		p, err := servers[i%len(servers)].Publish(ctx, post.Draft{Text: fmt.Sprintf("heron nest %d by the weir", i)})
		if err != nil {
			t.Fatal(err)
		}
		fromServers = append(fromServers, p)
	}

	// Every key of every post at its R true owners, all servers.
	want := map[string][]string{}
	for _, p := range append(slices.Clone(fromLaptop), fromServers...) {
		for _, k := range keyspace.Keys(p) {
			want[k] = append(want[k], p.ID)
		}
	}
	net.WaitFor("every key at its 3 owners among the servers", time.Minute, func() bool {
		return len(short(holdersAtTrueOwners(net, want), want, p2p.DefaultReplicas)) == 0
	})

	found := func(nd *testnet.Member, q string, posts []*post.Post) bool {
		res, err := nd.Search(ctx, query.Request{Q: q, Limit: 50})
		if err != nil {
			t.Fatalf("search %q from node %d: %v", q, nd.Index, err)
		}
		return !res.Partial && len(res.Hits) == len(posts)
	}
	for _, nd := range servers {
		if !found(nd, "kestrel", fromLaptop) {
			t.Errorf("node %d does not find the client's %d posts", nd.Index, len(fromLaptop))
		}
	}
	if !found(laptop, "heron", fromServers) {
		t.Errorf("the client does not find the %d posts written on the servers", len(fromServers))
	}

	for k := range want {
		for _, nd := range net.Nodes {
			owners, err := nd.Net().Owners(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(owners, laptop.ID()) {
				t.Fatalf("node %d names the client among the owners of %s", nd.Index, k)
			}
		}
	}
	for _, nd := range servers {
		if nd.Net().RoutingTableSize() != len(servers)-1 {
			t.Errorf("node %d's routing table holds %d peers, want the %d other servers", nd.Index, nd.Net().RoutingTableSize(), len(servers)-1)
		}
	}
	laptop.Net().TriggerRepair()
	net.WaitFor("a repair pass at the client", 30*time.Second, func() bool {
		st, err := laptop.Status(ctx)
		return err == nil && st.Keys == 0 && st.DHTMode == p2p.DHTModeClient
	})
}

// holdersAtTrueOwners counts, for each key, its true owners (among the
// live DHT servers) that hold exactly the wanted posts under it.
func holdersAtTrueOwners(net *testnet.Net, want map[string][]string) map[string]int {
	out := map[string]int{}
	for key, ids := range want {
		d := p2p.DigestOf(key, ids)
		for _, o := range trueOwners(net, key, p2p.DefaultReplicas) {
			for _, nd := range net.Alive() {
				if nd.ID() == o && nd.Net().LocalDigest(key) == d {
					out[key]++
				}
			}
		}
	}
	return out
}
