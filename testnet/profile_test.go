package testnet_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/testnet"
)

// TestProfilesAcrossTheNetwork: an author's profile is kept at the owners
// of its profile key, so any node shows its name beside its posts and
// serves it; a newer profile replaces it; an author without one has none.
func TestProfilesAcrossTheNetwork(t *testing.T) {
	net := testnet.Start(t, 6, testnet.Options{})
	ctx := context.Background()
	author := net.Nodes[1]
	id := author.ID().String()
	if _, err := author.API.SetProfile(ctx, api.ProfileRequest{Name: "Ada of the marsh", Bio: "Counts plovers."}); err != nil {
		t.Fatal(err)
	}
	owners, err := author.Net().Owners(ctx, keyspace.ProfileKey(id))
	if err != nil {
		t.Fatal(err)
	}
	held := 0
	for _, nd := range net.Nodes {
		if p, err := nd.KeptProfile(id); err == nil && p.Name == "Ada of the marsh" {
			held++
		}
	}
	if held < len(owners) {
		t.Fatalf("the profile is kept by %d nodes, want its %d owners at least", held, len(owners))
	}
	if _, err := author.Publish(ctx, post.Draft{Text: "seven #plover today"}); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Nodes[2].Publish(ctx, post.Draft{Text: "one #plover, no profile here"}); err != nil {
		t.Fatal(err)
	}
	res, err := net.Nodes[4].API.Search(ctx, url.Values{"q": {"#plover"}})
	if err != nil || len(res.Hits) != 2 {
		t.Fatalf("search: %+v %v", res, err)
	}
	for _, h := range res.Hits {
		want := ""
		if h.Author == id {
			want = "Ada of the marsh"
		}
		if h.AuthorName != want {
			t.Errorf("hit by %s named %q, want %q", h.Author, h.AuthorName, want)
		}
	}
	// A newer profile replaces the older at the owners; a node that did
	// not look before sees it at once.
	if _, err := author.API.SetProfile(ctx, api.ProfileRequest{Name: "Ada"}); err != nil {
		t.Fatal(err)
	}
	p, err := net.Nodes[5].API.Profile(ctx, id)
	if err != nil || p.Name != "Ada" || p.Bio != "" {
		t.Fatalf("profile from node 5 after the update: %+v %v", p, err)
	}
	var apiErr *api.Error
	if _, err := net.Nodes[5].API.Profile(ctx, net.Nodes[3].ID().String()); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Fatalf("profile of an author without one: %v, want a 404", err)
	}
	if _, err := author.API.SetProfile(ctx, api.ProfileRequest{Name: "12D3KooWDMB6ZLRHFd6yBzUoQ7AvNRkNmP76V97dKcyuTJVeoMQZ"}); !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Fatalf("a name that looks like a peer ID: %v, want a 400", err)
	}
}
