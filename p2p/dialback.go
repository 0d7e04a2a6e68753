package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/murmur-p2p/murmur/metrics"
)

// A node's own check of its reachability, for the addresses libp2p's
// AutoNAT does not judge. AutoNAT (v1 and v2) tests only public addresses
// (manet.IsPublicAddr): on a network whose addresses are private or
// reserved (a LAN, a VPN, the 198.18.0.0/15 test range) it never says
// whether a node behind a NAT can be reached, and such a node would stay a
// DHT server that owns keys nobody can reach. So while AutoNAT has no
// verdict, a node asks a few peers to dial it back: each opens a new TCP
// connection to the address the request came from (never another) on the
// node's listening ports, and reports which answered as a libp2p listener.
// Its verdict goes on the host's bus as AutoNAT's would, so that the DHT
// mode, auto-relay and the relay service follow it.

// DialbackProtocol is the protocol of the dial-back check.
func DialbackProtocol(network string) protocol.ID {
	return protocol.ID(fmt.Sprintf("/murmur/%s/dialback/1.0.0", network))
}

// Bounds of the dial-back check.
const (
	// MaxDialbackPorts bounds the ports one request asks to be dialed on.
	MaxDialbackPorts = 4
	// dialbackTimeout bounds one dial back, connection and greeting.
	dialbackTimeout = 3 * time.Second
	// PeerDialbackRate and PeerDialbackBurst bound each peer's requests:
	// each makes this node open connections.
	PeerDialbackRate  = 0.1
	PeerDialbackBurst = 3
	// DialbackSlots bounds the requests served at once.
	DialbackSlots = 4
	// dialbackPeers is how many peers a check asks; dialbackQuorum how
	// many must answer for a verdict.
	dialbackPeers  = 3
	dialbackQuorum = 2
	// dialbackEvery is how often the check runs while AutoNAT has no
	// verdict; dialbackFirst how long after start it first runs.
	dialbackEvery = 10 * time.Minute
	dialbackFirst = 5 * time.Second
)

type dialbackRequest struct {
	Ports []int `json:"ports"`
}

type dialbackResponse struct {
	// Reached lists the ports on which a libp2p listener answered.
	Reached []int `json:"reached"`
}

func (m *dialbackRequest) check() error {
	if len(m.Ports) == 0 || len(m.Ports) > MaxDialbackPorts {
		return fmt.Errorf("dial-back request with %d ports; want 1 to %d", len(m.Ports), MaxDialbackPorts)
	}
	for _, p := range m.Ports {
		if p < 1 || p > 65535 {
			return fmt.Errorf("dial-back request with port %d", p)
		}
	}
	return nil
}

func (m *dialbackResponse) check() error {
	if len(m.Reached) > MaxDialbackPorts {
		return fmt.Errorf("dial-back answer with %d ports, limit %d", len(m.Reached), MaxDialbackPorts)
	}
	return nil
}

// multistreamHello is what a libp2p listener says first on a new
// connection (multistream-select's header, length-prefixed).
var multistreamHello = []byte("/multistream/1.0.0\n")

func (s *Service) handleDialback(st network.Stream) {
	var req dialbackRequest
	remote := st.Conn().RemoteMultiaddr()
	s.serve(st, s.dialbackIn, &req, func(ctx context.Context, _ peer.ID) (any, error) {
		if isRelayAddr(remote) {
			return nil, refuse(metrics.RefusedMalformed, "a dial-back request over a relay")
		}
		ip, err := manet.ToIP(remote)
		if err != nil {
			return nil, refuse(metrics.RefusedMalformed, "a dial-back request from %s: %v", remote, err)
		}
		resp := &dialbackResponse{}
		for _, port := range slices.Compact(slices.Sorted(slices.Values(req.Ports))) {
			if dialsBack(ctx, ip, port) {
				resp.Reached = append(resp.Reached, port)
			}
		}
		return resp, nil
	})
}

// dialsBack reports whether a new TCP connection to ip:port reaches a
// libp2p listener: it answers with multistream-select's header.
func dialsBack(ctx context.Context, ip net.IP, port int) bool {
	ctx, cancel := context.WithTimeout(ctx, dialbackTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), strconv.Itoa(port)))
	if err != nil {
		return false
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	buf := make([]byte, len(multistreamHello)+1)
	if _, err := io.ReadFull(c, buf); err != nil {
		return false
	}
	return bytes.Equal(buf[1:], multistreamHello)
}

// tcpListenPorts are the TCP ports the node listens on.
func (s *Service) tcpListenPorts() []int {
	var ports []int
	for _, a := range s.host.Network().ListenAddresses() {
		if isRelayAddr(a) {
			continue
		}
		if v, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			if p, err := strconv.Atoi(v); err == nil && p > 0 && !slices.Contains(ports, p) {
				ports = append(ports, p)
			}
		}
	}
	slices.Sort(ports)
	return ports[:min(len(ports), MaxDialbackPorts)]
}

// checkReachability asks up to dialbackPeers servers of the routing table
// to dial this node back, and returns the verdict: public when one reached
// it, private when at least dialbackQuorum answered and none did, unknown
// otherwise.
func (s *Service) checkReachability(ctx context.Context) network.Reachability {
	ports := s.tcpListenPorts()
	if len(ports) == 0 {
		return network.ReachabilityUnknown
	}
	peers := s.dht.RoutingTable().ListPeers()
	var mu sync.Mutex
	answered, reached := 0, 0
	var wg sync.WaitGroup
	for _, p := range peers[:min(len(peers), dialbackPeers)] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var resp dialbackResponse
			err := s.call(ctx, p, []protocol.ID{DialbackProtocol(s.cfg.Network)}, metrics.ProtocolDialback, &dialbackRequest{Ports: ports}, &resp)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.log.Debug("dial-back check failed", "peer", p, "err", err)
				return
			}
			answered++
			if len(resp.Reached) > 0 {
				reached++
			}
		}()
	}
	wg.Wait()
	switch {
	case reached > 0:
		return network.ReachabilityPublic
	case answered >= dialbackQuorum:
		return network.ReachabilityPrivate
	}
	return network.ReachabilityUnknown
}

// dialbackLoop runs the check while libp2p's AutoNAT has no verdict of its
// own, and puts each new verdict on the host's bus.
func (s *Service) dialbackLoop() error {
	em, err := s.host.EventBus().Emitter(reachabilityType, eventbus.Stateful)
	if err != nil {
		return fmt.Errorf("reachability emitter: %w", err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer em.Close()
		timer := time.NewTimer(dialbackFirst)
		defer timer.Stop()
		last := network.ReachabilityUnknown
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-timer.C:
			}
			timer.Reset(dialbackEvery)
			if s.autonatVerdict() {
				continue // AutoNAT judges this node's addresses itself
			}
			if s.dht.RoutingTable().Size() == 0 {
				timer.Reset(dialbackFirst)
				continue
			}
			r := s.checkReachability(s.ctx)
			if r == network.ReachabilityUnknown {
				timer.Reset(dialbackFirst * 6)
				continue
			}
			if r == last {
				continue
			}
			last = r
			s.reach.dialbackVerdict.Store(int32(r))
			if err := em.Emit(event.EvtLocalReachabilityChanged{Reachability: r}); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Warn("could not publish the dial-back verdict", "err", err)
			}
		}
	}()
	return nil
}

// autonatVerdict reports whether the node's reachability came from
// libp2p's AutoNAT rather than from the dial-back check: it is known, and
// not the dial-back check's last verdict.
func (s *Service) autonatVerdict() bool {
	r := s.reach.reachability.Load()
	return r != int32(network.ReachabilityUnknown) && r != s.reach.dialbackVerdict.Load()
}
