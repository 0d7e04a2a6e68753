package testnet_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/testnet"
)

// TestProcessNetwork runs the real binary as four node processes: a post
// written on one is found from every other at once, still found after a
// node holding it is killed with SIGKILL, and found from that node again
// once it restarts on its data and rejoins.
func TestProcessNetwork(t *testing.T) {
	ps := testnet.StartProcesses(t, 4)
	ctx := context.Background()
	const text = "the zanzibarine kettle sings at dawn"
	p, err := ps.Nodes[0].API.Post(ctx, api.PostRequest{Text: text})
	if err != nil {
		t.Fatal(err)
	}
	find := func(nd *testnet.Proc, q string) *api.SearchResponse {
		t.Helper()
		r, err := nd.API.Search(ctx, url.Values{"q": {q}})
		if err != nil {
			t.Fatalf("search %q on node %d: %v", q, nd.Index, err)
		}
		return r
	}
	found := func(r *api.SearchResponse) bool {
		for _, h := range r.Hits {
			if h.ID == p.ID {
				return true
			}
		}
		return false
	}
	for _, nd := range ps.Nodes[1:] {
		for _, q := range []string{"zanzibarine", "kettle dawn", `"kettle sings"`} {
			if r := find(nd, q); !found(r) || r.Scope != "network" || r.Partial {
				t.Fatalf("%q from node %d: %+v", q, nd.Index, r)
			}
		}
	}
	// With 4 nodes and R=3 every key has 3 of them as owners; kill one.
	ps.Kill(1)
	for _, nd := range []*testnet.Proc{ps.Nodes[2], ps.Nodes[3]} {
		if r := find(nd, "zanzibarine kettle"); !found(r) {
			t.Fatalf("after a kill, node %d no longer finds the post: %+v", nd.Index, r)
		}
	}
	nd := ps.Restart(1)
	ps.WaitRouting(60 * time.Second)
	if r := find(nd, "zanzibarine"); !found(r) {
		t.Fatalf("the restarted node does not find the post: %+v", r)
	}
	local, err := nd.API.Search(ctx, url.Values{"q": {"zanzibarine"}, "scope": {"local"}})
	if err != nil {
		t.Fatal(err)
	}
	if local.Scope != "local" {
		t.Fatalf("scope=local answered with scope %q", local.Scope)
	}
}
