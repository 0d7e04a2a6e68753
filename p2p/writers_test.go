package p2p

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
)

// TestAWriterThatLeavesMidPlacementLeavesNoOwnerShort: the keys of a post
// are at their owners, compared and synced. A writer then stores another
// post of the same terms at one node alone and leaves before it places the
// other copies. The node compares those keys with their owners when the
// writer leaves, and every key reaches its R owners within seconds, with
// repair's full sync an hour away. Without it, a pass compares only keys
// whose owners changed or that are new to it, and the owners stay short
// until the full sync.
func TestAWriterThatLeavesMidPlacementLeavesNoOwnerShort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	net := startNetwork(t, 4, nil)
	author := testkit.Key(t)
	sign := func(text string) *post.Post {
		p, err := post.SignWork(ctx, author, post.Draft{Text: text}, time.Now(), DefaultPostDifficulty)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := sign("a heron over the kelp at low tide")
	net.write(net.svcs[0], []*post.Post{first})
	poll.Until(t, "every holder synced the first post's keys", 20*time.Second, 50*time.Millisecond, func() bool {
		for _, s := range net.svcs {
			for _, k := range keyspace.Keys(first) {
				if synced, _ := s.repair.syncState(k); s.hold.Count(k) > 0 && !synced {
					s.TriggerRepair()
					return false
				}
			}
		}
		return true
	})

	writer := newAttacker(t, net.svcs...)
	second := sign("at low tide the kelp a heron over")
	raw, err := json.Marshal(second)
	if err != nil {
		t.Fatal(err)
	}
	var resp storeResponse
	req := &storeRequest{Posts: []storeItem{{Post: raw, Keys: keyspace.Keys(second)}}}
	if err := exchange(ctx, writer, net.svcs[1], StoreProtocol(net.name), req, &resp); err != nil || resp.Posts[0].Error != "" {
		t.Fatalf("the store at one node: %+v, %v", resp, err)
	}
	want := keyCounts([]*post.Post{first, second})
	short := net.misplaced(want)
	if short == 0 {
		t.Fatal("the post is already at every owner of its keys: the test proves nothing")
	}
	t.Logf("%d copies of %d keys short before the writer leaves", short, len(want))
	if err := writer.Close(); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "every key of the post at its owners after its writer left", 20*time.Second, 100*time.Millisecond, func() bool {
		return net.misplaced(want) == 0
	})
}

// TestRecentWritersAreBounded: what a node remembers of its writers is
// bounded in keys a peer, in peers and in time, however many a peer sends.
func TestRecentWritersAreBounded(t *testing.T) {
	w := newRecentWriters()
	now := time.Now()
	many := make([]string, maxWriterKeys+100)
	for i := range many {
		many[i] = fmt.Sprintf("t/term%d", i)
	}
	w.note("flooder", many, now)
	if got := w.left("flooder", now); len(got) != maxWriterKeys {
		t.Errorf("a peer that stored under %d keys left %d to compare, want %d", len(many), len(got), maxWriterKeys)
	}
	for i := range maxWriters + 10 {
		w.note(peer.ID(fmt.Sprint(i)), []string{"t/kelp"}, now.Add(time.Duration(i)*time.Millisecond))
	}
	if w.byPeer.Len() != maxWriters {
		t.Errorf("%d peers remembered, want %d", w.byPeer.Len(), maxWriters)
	}
	if got := w.left("0", now); got != nil {
		t.Errorf("the peer heard from longest ago is still remembered: %v", got)
	}
	if got := w.left(peer.ID(fmt.Sprint(maxWriters+9)), now); len(got) != 1 {
		t.Errorf("the latest peer left %v, want its one key", got)
	}
	w.note("late", []string{"t/kelp"}, now)
	if got := w.left("late", now.Add(writerMemory+time.Second)); got != nil {
		t.Errorf("keys stored %v ago are still compared: %v", writerMemory+time.Second, got)
	}
}

// TestATrimmedWriterHasNotLeft: a node remembers the keys a member wrote
// under. When the connection to it is closed (as the connection manager
// trims one) and the redial finds it alive, it has not left: its keys are
// still remembered and not compared again. When it stops, the redial
// fails and its keys are compared (the node forgets them). Without the
// redial's verdict, the trim alone made the node forget them and compare
// up to maxWriterKeys keys.
func TestATrimmedWriterHasNotLeft(t *testing.T) {
	net := startNetwork(t, 3, nil)
	net.waitRouting()
	node, writer := net.svcs[0], net.svcs[1]
	remembers := func() bool {
		node.writers.mu.Lock()
		defer node.writers.mu.Unlock()
		return node.writers.byPeer.Contains(writer.self)
	}
	node.writers.note(writer.self, []string{"t/heron", "t/kelp"}, time.Now())

	if err := node.host.Network().ClosePeer(writer.self); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the writer connected again", 10*time.Second, 20*time.Millisecond, func() bool {
		return node.host.Network().Connectedness(writer.self) == network.Connected
	})
	time.Sleep(time.Second) // past the redial's check (200 ms)
	if !remembers() {
		t.Fatal("a trimmed connection counted as the writer leaving: its keys were compared again")
	}

	if err := writer.Close(); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the node compared the keys of the writer that left", 15*time.Second, 50*time.Millisecond, func() bool {
		return !remembers()
	})
}
