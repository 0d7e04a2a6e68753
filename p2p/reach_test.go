package p2p

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/murmur-p2p/murmur/internal/poll"
)

// TestAutoModeFollowsReachabilityLate: a node in auto mode among 4 servers
// owns keys. AutoNAT's verdicts reach it as they do from libp2p (events on
// the host's bus). A verdict that flips back within the switch delay moves
// nothing; "private" held for the delay makes it a DHT client: the other
// nodes drop it from their routing tables, repair brings every key it held
// to its owners among the servers, it owns nothing and still writes. Back
// to "public", it serves the DHT and owns keys again.
func TestAutoModeFollowsReachabilityLate(t *testing.T) {
	const delay = 700 * time.Millisecond
	tweak := func(c *Config) {
		c.RepairInterval = time.Second
		c.SettleMargin = time.Second
	}
	net := startNetwork(t, 4, tweak)
	net.cfg = func(c *Config) {
		tweak(c)
		c.DHTMode, c.ModeSwitchDelay = DHTModeAuto, delay
	}
	laptop := net.add()
	net.cfg = tweak
	net.waitRouting()
	if laptop.DHTMode() != DHTModeServer {
		t.Fatalf("an auto node whose reachability is unknown runs as %s, want server", laptop.DHTMode())
	}

	posts := signPosts(t, 40, func(i int) string { return fmt.Sprintf("lantern%d harbor", i) })
	net.write(net.svcs[0], posts)
	want := keyCounts(posts)
	poll.Until(t, "every key at its owners", time.Minute, 100*time.Millisecond, func() bool { return net.misplaced(want) == 0 })
	held := 0
	for k := range want {
		if laptop.hold.Count(k) > 0 {
			held++
		}
	}
	if held == 0 {
		t.Fatal("the auto node holds no key: the test proves nothing")
	}

	em, err := laptop.Host().EventBus().Emitter(new(event.EvtLocalReachabilityChanged))
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	verdict := func(r network.Reachability) {
		t.Helper()
		if err := em.Emit(event.EvtLocalReachabilityChanged{Reachability: r}); err != nil {
			t.Fatal(err)
		}
	}

	// A flap: private, then public again within the delay.
	verdict(network.ReachabilityPrivate)
	poll.Until(t, "the verdict seen", 5*time.Second, 10*time.Millisecond, func() bool { return laptop.Reachability() == ReachabilityPrivate })
	verdict(network.ReachabilityPublic)
	time.Sleep(2 * delay)
	if laptop.DHTMode() != DHTModeServer {
		t.Fatalf("a verdict that held %v less than the delay switched the node to %s", delay, laptop.DHTMode())
	}

	// Private for good.
	verdict(network.ReachabilityPrivate)
	poll.Until(t, "the auto node a DHT client", 10*time.Second, 20*time.Millisecond, func() bool { return laptop.DHTMode() == DHTModeClient })
	poll.Until(t, "the client out of every server's routing table", 30*time.Second, 50*time.Millisecond, func() bool {
		for _, s := range net.svcs[:4] {
			if s.dht.RoutingTable().Find(laptop.ID()) != "" {
				return false
			}
		}
		return true
	})
	poll.Until(t, "every key at its owners among the servers", time.Minute, 100*time.Millisecond, func() bool { return net.misplaced(want) == 0 })
	ctx := context.Background()
	for k := range want {
		if laptop.owners.mayOwn(k, laptop.cfg.Replicas) {
			t.Fatalf("the client may own %s", k)
		}
		for _, s := range append(net.svcs[:4:4], laptop) {
			owners, err := s.Owners(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(owners, laptop.ID()) {
				t.Fatalf("%s names the client among the owners of %s", s.ID(), k)
			}
		}
	}
	// It still writes: its posts reach their owners.
	more := signPosts(t, 10, func(i int) string { return fmt.Sprintf("meadow%d harbor", i) })
	net.write(laptop, more)
	for k, n := range keyCounts(more) {
		want[k] += n
	}
	poll.Until(t, "the client's posts at their owners", time.Minute, 100*time.Millisecond, func() bool { return net.misplaced(want) == 0 })

	// Reachable again: a server after the delay, and an owner again.
	verdict(network.ReachabilityPublic)
	poll.Until(t, "the node a server again", 10*time.Second, 20*time.Millisecond, func() bool { return laptop.DHTMode() == DHTModeServer })
	poll.Until(t, "the node back in the routing tables", 30*time.Second, 50*time.Millisecond, func() bool {
		for _, s := range net.svcs[:4] {
			if s.dht.RoutingTable().Find(laptop.ID()) == "" {
				return false
			}
		}
		return true
	})
	poll.Until(t, "every key at its owners, the node among them", time.Minute, 100*time.Millisecond, func() bool { return net.misplaced(want) == 0 })
	owns := 0
	for k := range want {
		if slices.Contains(net.trueOwners(k), laptop.ID()) && laptop.hold.Count(k) == want[k] {
			owns++
		}
	}
	if owns == 0 {
		t.Error("back as a server, the node holds no key it owns")
	}
}
