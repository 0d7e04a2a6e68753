package testnet

import (
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/internal/poll"
)

// kadBucketSize is how many peers a routing table keeps per common prefix
// length with its own ID: go-libp2p-kad-dht's default, which p2p keeps.
const kadBucketSize = 20

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

// routingCapacity is how many of the live DHT servers other than nd a
// routing table can hold at most: kadBucketSize of those that share each
// prefix length with nd's ID. Past 20 or so peers one bucket overflows
// (at 32 nodes about half of them share no bit with nd), and the table
// holds fewer than all; p2p then looks owners up. Unbounded when nd's ID
// is not known.
func routingCapacity[T member](nd T, alive []T) int {
	self, ok := nd.peerID()
	if !ok {
		return int(^uint(0) >> 1)
	}
	me := kb.ConvertPeerID(self)
	perPrefix := map[int]int{}
	for _, o := range alive {
		id, ok := o.peerID()
		if !ok || id == self || o.dhtClient() {
			continue
		}
		perPrefix[kb.CommonPrefixLen(me, kb.ConvertPeerID(id))]++
	}
	capacity := 0
	for _, n := range perPrefix {
		capacity += min(n, kadBucketSize)
	}
	return capacity
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
