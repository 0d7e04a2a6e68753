package p2p

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// TestTotalsAskAgainAPeerThatRefused: a peer resets the first summary
// request it gets; the totals ask it again and count every post exactly,
// instead of leaving its share out.
func TestTotalsAskAgainAPeerThatRefused(t *testing.T) {
	net := startNetwork(t, 4, nil)
	writer, moody := net.svcs[0], net.svcs[2]
	posts := signPosts(t, 40, "totals sample %d: bread, salt and the sea")
	ctx := context.Background()
	if _, err := writer.cfg.Store.Put(ctx, posts...); err != nil {
		t.Fatal(err)
	}
	for i, err := range writer.Place(ctx, posts) {
		if err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	// Every author shard at its three owners, so that the first owners'
	// counts add up to the posts.
	waitUntil(t, "every copy placed", 30*time.Second, func() bool {
		for _, p := range posts {
			for _, k := range Keys(p) {
				for _, o := range net.trueOwners(k) {
					for _, s := range net.svcs {
						if s.ID() == o && s.hold.Count(k) == 0 {
							return false
						}
					}
				}
			}
		}
		return true
	})

	var refused atomic.Int32
	moody.Host().SetStreamHandler(StatsProtocol(moody.cfg.Network), func(st network.Stream) {
		if refused.Add(1) == 1 {
			st.Reset()
			return
		}
		moody.handleStats(st)
	})
	tot, asked := writer.Totals(ctx)
	if !asked {
		t.Fatal("the first Totals call did not ask the network")
	}
	if refused.Load() < 2 {
		t.Fatalf("the refusing peer was asked %d times, want a second time", refused.Load())
	}
	if tot.Answered != tot.Asked || tot.Posts != uint64(len(posts)) {
		t.Fatalf("totals %+v: want all 4 nodes answering and %d posts", tot, len(posts))
	}
}
