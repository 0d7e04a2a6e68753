package testnet_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/testnet"
)

// TestLatestNeverRanksAheadOfTheClock: a post dated 9 minutes ahead is
// accepted (clocks disagree a little) but ranks, under sort=latest, at the
// time its owners received it: a post written a moment later comes first,
// in the network search and in an owner's local one, while the hit still
// shows the time its author signed. 11 minutes ahead is refused.
func TestLatestNeverRanksAheadOfTheClock(t *testing.T) {
	net := testnet.Start(t, 3, testnet.Options{})
	ctx := context.Background()
	ahead := time.Now().Add(9 * time.Minute).UTC().Truncate(time.Millisecond)
	tooFar := time.Now().Add((post.MaxFutureSkew + 60) * time.Second).UTC()
	body := fmt.Sprintf(`{"text":"skewclock from a fast clock","created_at":%q}`+"\n"+`{"text":"skewclock from a clock far ahead","created_at":%q}`+"\n",
		ahead.Format(time.RFC3339Nano), tooFar.Format(time.RFC3339Nano))
	res, err := net.Nodes[0].Import(ctx, strings.NewReader(body), api.ImportOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 1 || res.Rejected != 1 || len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Error, "in the future") {
		t.Fatalf("import: %+v; want the 9-minute one accepted, the 11-minute one refused as in the future", res)
	}
	time.Sleep(20 * time.Millisecond)
	present, err := net.Nodes[1].API.Post(ctx, api.PostRequest{Text: "skewclock from a right clock"})
	if err != nil {
		t.Fatal(err)
	}
	params := url.Values{"q": {"skewclock"}, "sort": {"latest"}}
	check := func(where string, r *api.SearchResponse) {
		t.Helper()
		if len(r.Hits) != 2 {
			t.Fatalf("%s: %d hits, want 2: %+v", where, len(r.Hits), r.Hits)
		}
		if r.Hits[0].ID != present.ID {
			t.Fatalf("%s: latest ranks %q (dated %v) first, above the post written after it", where, r.Hits[0].Text, r.Hits[0].CreatedAt)
		}
		if !r.Hits[1].CreatedAt.Equal(ahead) {
			t.Fatalf("%s: the fast clock's post shows %v, want its signed time %v", where, r.Hits[1].CreatedAt, ahead)
		}
	}
	net.WaitFor("both posts found from node 2", 30*time.Second, func() bool {
		r, err := net.Nodes[2].API.Search(ctx, params)
		return err == nil && len(r.Hits) == 2
	})
	r, err := net.Nodes[2].API.Search(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	check("network search", r)
	// Page by page, through the cursor, the order is the same.
	params.Set("limit", "1")
	p1, err := net.Nodes[2].API.Search(ctx, params)
	if err != nil || len(p1.Hits) != 1 || p1.NextCursor == "" {
		t.Fatalf("first page: %+v, %v", p1, err)
	}
	params.Set("cursor", p1.NextCursor)
	p2, err := net.Nodes[2].API.Search(ctx, params)
	if err != nil || len(p2.Hits) != 1 {
		t.Fatalf("second page: %+v, %v", p2, err)
	}
	check("two pages", &api.SearchResponse{Hits: append(p1.Hits, p2.Hits...)})
	params.Del("cursor")
	params.Set("limit", "10")
	params.Set("scope", "local")
	for _, nd := range net.Nodes {
		r, err := nd.API.Search(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Hits) == 2 {
			check(fmt.Sprintf("local search on node %d", nd.Index), r)
		}
	}
}
