package testnet_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/testnet"
)

// TestTimelineOfFollowedAuthorsAndSearches: node 0 follows the author of
// node 1 and a search; its timeline holds their posts written anywhere,
// newest first, page by page, and nothing else; a post written while its
// timeline stream is open arrives; the follows survive a restart, and an
// unfollowed author leaves the timeline.
func TestTimelineOfFollowedAuthorsAndSearches(t *testing.T) {
	net := testnet.Start(t, 4, testnet.Options{})
	ctx := context.Background()
	reader, author, other := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	c := reader.API
	if _, err := c.Follow(ctx, api.FollowRequest{Author: author.ID().String()}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Follow(ctx, api.FollowRequest{Search: "#lapwing"}); err != nil {
		t.Fatal(err)
	}
	var apiErr *api.Error
	if _, err := c.Follow(ctx, api.FollowRequest{Search: "lapw*"}); !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Fatalf("following a search no key routes: %v, want a 400", err)
	}
	if _, err := c.Follow(ctx, api.FollowRequest{Author: "two words"}); !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Fatalf("following a bad author: %v, want a 400", err)
	}

	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var want []string // newest first
	write := func(nd *testnet.Member, i int, text string, followed bool) {
		t.Helper()
		p, err := nd.Publish(ctx, post.Draft{Text: text, CreatedAt: base.Add(time.Duration(i) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		if followed {
			want = append([]string{p.ID}, want...)
		}
	}
	for i := range 15 {
		write(author, 3*i, fmt.Sprintf("note %d from the followed author", i), true)
		write(other, 3*i+1, fmt.Sprintf("a #lapwing seen, note %d", i), true)
		write(other, 3*i+2, fmt.Sprintf("a note nobody follows, %d", i), false)
	}
	var got []string
	params := url.Values{"limit": {"7"}}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("more timeline pages than posts")
		}
		res, err := c.Timeline(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range res.Hits {
			got = append(got, h.ID)
		}
		if res.NextCursor == "" {
			break
		}
		params.Set("cursor", res.NextCursor)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("timeline, 7 a page: %d posts\n%v\nwant %d newest first\n%v", len(got), got, len(want), want)
	}

	// Live: a followed author's new post comes over the timeline stream.
	sctx, cancel := context.WithCancel(ctx)
	arrived := make(chan string, 10)
	go c.TimelineStream(sctx, "", func(_ string, h api.Hit) error {
		arrived <- h.ID
		return nil
	})
	net.WaitFor("the timeline's standing searches", 20*time.Second, func() bool {
		kept := 0
		for _, nd := range net.Alive() {
			kept += nd.Net().Live().Len()
		}
		return kept >= 2
	})
	p, err := author.Publish(ctx, post.Draft{Text: "written while the timeline was open"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-arrived:
		if id != p.ID {
			t.Fatalf("timeline stream delivered %s, want %s", id, p.ID)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the timeline stream delivered nothing in 20 s")
	}
	cancel()

	// The follows are kept in the data directory.
	reader = net.Restart(0)
	c = reader.API
	f, err := c.Follows(ctx)
	if err != nil || len(f.Authors) != 1 || len(f.Searches) != 1 {
		t.Fatalf("follows after a restart: %+v %v", f, err)
	}
	if _, err := c.Unfollow(ctx, api.FollowRequest{Author: author.ID().String()}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Unfollow(ctx, api.FollowRequest{Author: author.ID().String()}); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Fatalf("unfollowing twice: %v, want a 404", err)
	}
	res, err := c.Timeline(ctx, url.Values{"limit": {"100"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 15 {
		t.Fatalf("timeline after unfollowing the author: %d posts, want the 15 of the search", len(res.Hits))
	}
}
