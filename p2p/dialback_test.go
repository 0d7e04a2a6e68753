package p2p

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/metrics"
)

// TestDialbackJudgesWhatAutoNATDoesNot: on loopback, libp2p's AutoNAT has
// no verdict (it tests public addresses only). A peer asked to dial a node
// back reaches its libp2p listener, and not a port where no libp2p node
// listens, nor one where something else answers; the node's own check
// finds it reachable and says so on the host's bus, where its status
// reads it. Requests beyond a peer's rate are refused.
func TestDialbackJudgesWhatAutoNATDoesNot(t *testing.T) {
	net0 := startNetwork(t, 3, func(c *Config) { c.DHTMode = DHTModeAuto; c.ModeSwitchDelay = 100 * time.Millisecond })
	a, b := net0.svcs[0], net0.svcs[1]
	ctx := context.Background()

	ports := a.tcpListenPorts()
	if len(ports) == 0 {
		t.Fatal("no TCP listen port")
	}
	closed := freePort(t)
	other, err := net.Listen("tcp", "127.0.0.1:0") // answers, but not as libp2p
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go func() {
		for {
			c, err := other.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("220 smtp.example ESMTP\r\n"))
			c.Close()
		}
	}()
	otherPort := other.Addr().(*net.TCPAddr).Port
	var resp dialbackResponse
	req := &dialbackRequest{Ports: []int{ports[0], closed, otherPort}}
	if err := a.call(ctx, b.ID(), []protocol.ID{DialbackProtocol(a.cfg.Network)}, metrics.ProtocolDialback, req, &resp); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resp.Reached, []int{ports[0]}) {
		t.Fatalf("dialed back on %v; want only the libp2p listener's port %d (not %d, closed, nor %d, another service)", resp.Reached, ports[0], closed, otherPort)
	}

	if r := a.checkReachability(ctx); r != network.ReachabilityPublic {
		t.Fatalf("the check found the node %v, want public", r)
	}
	poll.Until(t, "the dial-back verdict in the status", 30*time.Second, 50*time.Millisecond, func() bool {
		return a.Reachability() == ReachabilityPublic
	})
	if a.DHTMode() != DHTModeServer {
		t.Errorf("a reachable auto node runs the DHT as %s", a.DHTMode())
	}

	// Each request makes the peer open connections: a burst beyond the
	// peer's allowance is refused. The requests go out unpaced, as from a
	// peer that does not pace itself (a.call would wait for the rate).
	refused := 0
	for range PeerDialbackBurst + 2 {
		if err := exchange(ctx, a.Host(), b, DialbackProtocol(a.cfg.Network), &dialbackRequest{Ports: []int{closed}}, &resp); err != nil {
			refused++
		}
	}
	if refused == 0 {
		t.Errorf("%d dial-back requests in a row were all served", PeerDialbackBurst+2)
	}
}

// freePort is a TCP port of 127.0.0.1 nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}
