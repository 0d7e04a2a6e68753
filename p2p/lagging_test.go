package p2p

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/keyspace"
)

// TestOwnerThatMissedAWriteGetsItFromRepair: a write reaches W owners while
// a third refuses it; the writer has repair deliver the missing copy at
// once, not at the next full sync an hour later.
func TestOwnerThatMissedAWriteGetsItFromRepair(t *testing.T) {
	net := startNetwork(t, 4, nil)
	writer, deaf := net.svcs[0], net.svcs[3]
	// Let the repair passes that membership changes set off run first.
	time.Sleep(2 * repairDebounce)

	deaf.Host().SetStreamHandler(StoreProtocol(deaf.cfg.Network), func(st network.Stream) { st.Reset() })
	posts := signPosts(t, 20, func(i int) string { return fmt.Sprintf("lagging owner sample %d about gardens and rivers", i) })
	net.write(writer, posts)
	ctx := context.Background()
	// The keys the deaf owner should hold, and what it holds now.
	want := map[string]int{}
	for _, p := range posts {
		for _, k := range keyspace.Keys(p) {
			owners, err := writer.Owners(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range owners {
				if o == deaf.ID() {
					want[k]++
				}
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("the deaf node owns none of the posts' keys; the test proves nothing")
	}
	missing := func() int {
		n := 0
		for k, c := range want {
			n += c - min(c, deaf.hold.Count(k))
		}
		return n
	}
	if m := missing(); m == 0 {
		t.Fatal("the deaf node holds every copy it refused")
	}
	deaf.Host().SetStreamHandler(StoreProtocol(deaf.cfg.Network), deaf.handleStore)
	poll.Until(t, fmt.Sprintf("the deaf owner to get its %d missing postings under %d keys", missing(), len(want)),
		30*time.Second, 100*time.Millisecond, func() bool { return missing() == 0 })
}
