package p2p

import (
	"context"
	"fmt"
	"reflect"
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

// TestASummaryOutlivesItsOwnersAnswers: past a bucket's worth of peers a
// node knows its keys' owners from lookups, whose answers expire. A
// summary computed after they expired and before repair looked them up
// again must still count every key it holds: skipping them made owners
// report less than they hold, and in a CI run under load every node's
// totals read 5 of 2,512 terms short with every key at its owners.
func TestASummaryOutlivesItsOwnersAnswers(t *testing.T) {
	const bucket = 2
	net := &testNetwork{t: t, name: fmt.Sprintf("p2ptest-%d", time.Now().UnixNano()), cfg: func(c *Config) { c.BucketSize = bucket }}
	for range 4 {
		net.add()
	}
	writer := net.svcs[0]
	poll.Until(t, "the writer's routing table outgrows a bucket", 30*time.Second, 50*time.Millisecond, func() bool {
		if writer.RoutingTableSize() < bucket {
			writer.RefreshRouting()
			return false
		}
		return true
	})
	posts := signPosts(t, 20, func(i int) string { return fmt.Sprintf("summary sample %d: gulls over the harbour", i) })
	ctx := context.Background()
	if _, err := writer.cfg.Store.Put(ctx, posts...); err != nil {
		t.Fatal(err)
	}
	writer.Place(ctx, posts) // looks up every key's owners; placement itself is not checked
	before := writer.localSummary()
	if len(before.Groups) == 0 {
		// Also the fault: a change of the routing table since the lookups
		// (this one grows while the posts are placed) dropped their answers.
		t.Fatalf("the writer holds %d keys, whose owners it looked up to place them, and its summary names no group", len(writer.hold.snapshot()))
	}

	// Every answer expires, and the summary is computed again.
	o := writer.owners
	o.mu.Lock()
	past := time.Now().Add(-time.Second)
	for _, byPrefix := range o.regions {
		for _, rg := range byPrefix {
			rg.expires = past
		}
	}
	for k, e := range o.lookups {
		e.expires = past
		o.lookups[k] = e
	}
	o.mu.Unlock()
	expired := 0
	for _, hk := range writer.hold.snapshot() {
		if _, ok := o.cached(hk.key, false); !ok {
			expired++
		}
	}
	if expired == 0 {
		t.Fatal("no held key's owners came from a lookup: the test proves nothing")
	}
	writer.summary.mu.Lock()
	writer.summary.localAt = time.Time{}
	writer.summary.mu.Unlock()
	after := writer.localSummary()
	if !reflect.DeepEqual(after, before) {
		t.Errorf("with the owners of %d held keys expired the summary changed:\nbefore %+v\nafter  %+v", expired, before.Groups, after.Groups)
	}
}
