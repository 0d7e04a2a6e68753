package testnet

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/p2p"
)

// member is what the harness needs of one node of either test network: a
// node in this process or a node process.
type member interface {
	Alive() bool
	// stop stops the node at once; what it acknowledged stays on its disk.
	stop(tb testing.TB)
	// routingTable is the size of the node's routing table; ok is false
	// while the node cannot say.
	routingTable() (n int, ok bool)
	// refreshRouting asks a lagging routing table to refresh, where the
	// node can be asked.
	refreshRouting()
	// dhtClient reports whether the node runs the DHT as a client: it is
	// in no routing table.
	dhtClient() bool
	// peerID is the node's peer ID; ok is false where the harness does not
	// know it.
	peerID() (id peer.ID, ok bool)
}

// harness holds the nodes of a test network and what every network does
// with them: kill, restart, list the live ones, wait for routing, close.
type harness[T member] struct {
	tb testing.TB
	// poll is how often waits check their condition.
	poll time.Duration
	// start starts a node (again) on its data directory.
	start func(T)
	Nodes []T
}

// Kill stops node i at once: it goes away without handing anything over,
// and what it had acknowledged stays on its disk.
func (h *harness[T]) Kill(i int) {
	h.tb.Helper()
	if nd := h.Nodes[i]; nd.Alive() {
		nd.stop(h.tb)
	}
}

// Restart starts a node again on its data directory, killing it first if
// it runs.
func (h *harness[T]) Restart(i int) T {
	h.tb.Helper()
	h.Kill(i)
	h.start(h.Nodes[i])
	return h.Nodes[i]
}

// Alive returns the running nodes.
func (h *harness[T]) Alive() []T {
	var out []T
	for _, nd := range h.Nodes {
		if nd.Alive() {
			out = append(out, nd)
		}
	}
	return out
}

// WaitRouting waits until every live node's routing table holds every other
// live node that serves the DHT, asking those that lag to refresh every 2
// seconds.
func (h *harness[T]) WaitRouting(timeout time.Duration) {
	h.tb.Helper()
	var lastRefresh time.Time
	h.waitFor("routing tables complete", timeout, func() bool {
		alive := h.Alive()
		servers := 0
		for _, nd := range alive {
			if !nd.dhtClient() {
				servers++
			}
		}
		refresh := time.Since(lastRefresh) > 2*time.Second
		ok := true
		for _, nd := range alive {
			want := servers
			if !nd.dhtClient() {
				want-- // not itself
			}
			want = min(want, routingCapacity(nd, alive))
			if n, known := nd.routingTable(); !known || n < want {
				ok = false
				if refresh {
					nd.refreshRouting()
				}
			}
		}
		if !ok && refresh {
			lastRefresh = time.Now()
		}
		return ok
	})
}

// routingCapacity is p2p.RoutingCapacity for nd among the live DHT
// servers of alive; unbounded when nd's ID is not known.
func routingCapacity[T member](nd T, alive []T) int {
	self, ok := nd.peerID()
	if !ok {
		return int(^uint(0) >> 1)
	}
	var servers []peer.ID
	for _, o := range alive {
		if id, ok := o.peerID(); ok && !o.dhtClient() {
			servers = append(servers, id)
		}
	}
	return p2p.RoutingCapacity(self, servers, 0)
}

// WaitFor polls cond until it holds or timeout passes, then fails the test
// naming what it waited for.
func (h *harness[T]) WaitFor(what string, timeout time.Duration, cond func() bool) {
	h.tb.Helper()
	h.waitFor(what, timeout, cond)
}

func (h *harness[T]) waitFor(what string, timeout time.Duration, cond func() bool) {
	h.tb.Helper()
	poll.Until(h.tb, what, timeout, h.poll, cond)
}

// Close stops every node.
func (h *harness[T]) Close() {
	for i := range h.Nodes {
		h.Kill(i)
	}
}
