package p2p

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/query"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// TestOwnersNeverMeasuredAreMeasured: a querier that has measured two of
// a key's three owners and never the third asks the two it measured, and
// has measured the third shortly after, by itself: an owner it never
// measured is not asked last for good.
func TestOwnersNeverMeasuredAreMeasured(t *testing.T) {
	nw := startNetwork(t, 4, func(c *Config) {
		// A settled network: a search asks two owners of a key, not all.
		c.SettleMargin = 10 * time.Millisecond
		ix := c.Store.(*index.Index)
		c.Searcher = func(ctx context.Context, req *netsearch.Request) (*netsearch.Response, error) {
			return netsearch.Answer(ctx, ix, req)
		}
	})
	posts := signPosts(t, 20, func(i int) string { return fmt.Sprintf("latency sample %d: the osprey dives into the %d waves", i, i) })
	nw.write(nw.svcs[0], posts)
	want := keyCounts(posts)
	poll.Until(t, "every copy placed", 30*time.Second, 100*time.Millisecond, func() bool { return nw.misplaced(want) == 0 })

	// The querier is the one node that does not own the key, so that it
	// asks two of the three owners over the network.
	owners := nw.trueOwners(keyspace.TermKey("osprey"))
	var querier *Service
	for _, s := range nw.svcs {
		if !slices.Contains(owners, s.ID()) {
			querier = s
		}
	}
	poll.Until(t, "the querier settled", 30*time.Second, 20*time.Millisecond, func() bool { return !querier.Settling() })
	// The DHT's requests measured every peer while the network formed:
	// the querier forgets one owner's latency, as if it had joined since,
	// and keeps the others'.
	ps := querier.Host().Peerstore()
	unmeasured := owners[len(owners)-1]
	ps.RemovePeer(unmeasured)
	for _, o := range owners {
		if l := ps.LatencyEWMA(o); (l == 0) != (o == unmeasured) {
			t.Fatalf("the querier's latency of owner %s is %v", o, l)
		}
	}

	res, err := coordinator(t, querier).Search(context.Background(), query.Request{Q: "osprey", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != uint64(len(posts)) {
		t.Fatalf("the search found %d posts, want %d", res.Total, len(posts))
	}
	poll.Until(t, "the querier measured the owner it never had", 10*time.Second, 20*time.Millisecond, func() bool {
		return ps.LatencyEWMA(unmeasured) > 0
	})
}

// TestLatencyProbesAreBounded: asked about many peers it cannot measure,
// a node pings at most latencyProbes of them at once, one ping per peer,
// and does not ping a peer again soon after its ping failed.
func TestLatencyProbesAreBounded(t *testing.T) {
	s, _, _ := startService(t)
	// A listener that accepts connections and says nothing: a ping to it
	// hangs until its deadline.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	silent, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", l.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	peers := randomPeerIDs(t, 4*latencyProbes)
	for _, p := range peers {
		s.Host().Peerstore().AddAddr(p, silent, time.Hour)
	}
	counts := func() (inFlight, started, peak int) {
		s.probe.mu.Lock()
		defer s.probe.mu.Unlock()
		return len(s.probe.inFlight), s.probe.started, s.probe.peak
	}

	s.Latency(s.ID())
	for range 3 {
		for _, p := range peers {
			if l := s.Latency(p); l != 0 {
				t.Fatalf("latency %v of a peer never measured", l)
			}
		}
	}
	if inFlight, started, _ := counts(); inFlight != latencyProbes || started != latencyProbes {
		t.Fatalf("%d pings in flight, %d started, want %d of each (none of the node itself)", inFlight, started, latencyProbes)
	}
	poll.Until(t, "the pings failed", 2*latencyProbeTimeout+5*time.Second, 20*time.Millisecond, func() bool {
		inFlight, _, _ := counts()
		return inFlight == 0
	})
	// The peers pinged failed, and wait latencyProbeRetry; the others
	// are pinged next.
	for _, p := range peers {
		s.Latency(p)
	}
	inFlight, started, peak := counts()
	if inFlight != latencyProbes || started != 2*latencyProbes || peak != latencyProbes {
		t.Fatalf("%d pings in flight, %d started, at most %d at once; want %d, %d and %d", inFlight, started, peak, latencyProbes, 2*latencyProbes, latencyProbes)
	}
	s.probe.mu.Lock()
	for p := range s.probe.inFlight {
		if _, ok := s.probe.failed[p]; ok {
			t.Errorf("%s is pinged again right after its ping failed", p)
		}
	}
	s.probe.mu.Unlock()
}

// TestAPeerThatNeverAnswersAPingIsNotPingedAgainSoon: a connected peer
// that takes a ping and never answers it counts as failed at the ping's
// deadline, and is not pinged again within latencyProbeRetry.
func TestAPeerThatNeverAnswersAPingIsNotPingedAgainSoon(t *testing.T) {
	s, _, _ := startService(t)
	mute := attacker(t, s)
	mute.SetStreamHandler(ping.ID, func(st network.Stream) { _, _ = io.Copy(io.Discard, st) })
	s.Latency(mute.ID())
	poll.Until(t, "the ping ended", latencyProbeTimeout+5*time.Second, 20*time.Millisecond, func() bool {
		s.probe.mu.Lock()
		defer s.probe.mu.Unlock()
		return s.probe.started == 1 && len(s.probe.inFlight) == 0
	})
	if l := s.Latency(mute.ID()); l != 0 {
		t.Fatalf("latency %v of a peer that never answered", l)
	}
	s.probe.mu.Lock()
	defer s.probe.mu.Unlock()
	if _, failed := s.probe.failed[mute.ID()]; !failed || s.probe.started != 1 {
		t.Fatalf("the unanswered ping counted as failed: %v, want true; pings started: %d, want 1", failed, s.probe.started)
	}
}
