package p2p

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/murmur-p2p/murmur/internal/poll"
)

// TestTotalsAskAgainAPeerThatRefused: a peer resets the first summary
// request it gets; the totals ask it again and count every post exactly,
// instead of leaving its share out.
func TestTotalsAskAgainAPeerThatRefused(t *testing.T) {
	net := startNetwork(t, 4, nil)
	writer, moody := net.svcs[0], net.svcs[2]
	posts := signPosts(t, 40, func(i int) string { return fmt.Sprintf("totals sample %d: bread, salt and the sea", i) })
	net.write(writer, posts)
	ctx := context.Background()
	// Every key at its three owners, so that the first owners' counts add
	// up to the posts.
	want := keyCounts(posts)
	poll.Until(t, "every copy placed", 30*time.Second, 100*time.Millisecond, func() bool { return net.misplaced(want) == 0 })

	var refused atomic.Int32
	moody.Host().SetStreamHandler(StatsProtocol(moody.cfg.Network), func(st network.Stream) {
		if refused.Add(1) == 1 {
			st.Reset()
			return
		}
		moody.handleStats(st)
	})
	ResetStreams(moody.Host(), StatsProtocol(moody.cfg.Network))
	tot, asked := coordinator(t, writer).Totals(ctx)
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

// TestPartialTotalsDoNotReplaceCompleteOnes: once every peer has answered,
// a later gathering that misses a peer keeps the complete figures instead
// of an estimate scaled from the others.
func TestPartialTotalsDoNotReplaceCompleteOnes(t *testing.T) {
	net := startNetwork(t, 4, nil)
	writer, mute := net.svcs[0], net.svcs[1]
	posts := signPosts(t, 40, func(i int) string { return fmt.Sprintf("partial totals sample %d: wind over the dunes", i) })
	net.write(writer, posts)
	want := keyCounts(posts)
	poll.Until(t, "every copy placed", 30*time.Second, 100*time.Millisecond, func() bool { return net.misplaced(want) == 0 })

	ctx := context.Background()
	coord := coordinator(t, writer)
	first := coord.Refresh(ctx)
	if first.Answered != first.Asked || first.Posts != uint64(len(posts)) {
		t.Fatalf("totals %+v: want all 4 nodes answering and %d posts", first, len(posts))
	}
	mute.Host().SetStreamHandler(StatsProtocol(mute.cfg.Network), func(st network.Stream) { st.Reset() })
	ResetStreams(mute.Host(), StatsProtocol(mute.cfg.Network))
	kept := first
	kept.Kept = true
	if again := coord.Refresh(ctx); again != kept {
		t.Fatalf("a gathering without one peer gave %+v; want the complete %+v, marked kept", again, kept)
	}
	if tot, _ := coord.Totals(ctx); tot != first {
		t.Fatalf("Totals gives %+v after a partial gathering; want the complete %+v", tot, first)
	}
}
