package p2p

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/murmur-p2p/murmur/metrics"
)

// DHT modes (Config.DHTMode, `--dht-mode`).
const (
	// DHTModeServer: the node answers DHT queries, enters other nodes'
	// routing tables and owns keys, whatever its reachability.
	DHTModeServer = "server"
	// DHTModeClient: the node uses the DHT without serving it. It posts,
	// searches and receives answers over connections it opened itself,
	// owns no key and never appears as an owner.
	DHTModeClient = "client"
	// DHTModeAuto: a server until AutoNAT finds the node unreachable
	// (behind a NAT, no port mapped), then a client, and a server again
	// once it is reachable; each switch waits ModeSwitchDelay.
	DHTModeAuto = "auto"
)

// ParseDHTMode checks a --dht-mode value.
func ParseDHTMode(s string) (string, error) {
	switch s {
	case DHTModeAuto, DHTModeServer, DHTModeClient:
		return s, nil
	}
	return "", fmt.Errorf("DHT mode %q: want auto, server or client", s)
}

// defaultModeSwitchDelay is how long a reachability must hold before an
// auto node switches its DHT mode: a laptop that changes networks or a
// flapping AutoNAT verdict must not move key ownership back and forth.
const defaultModeSwitchDelay = 2 * time.Minute

// Reachability names, as status, the API and metrics show them.
const (
	ReachabilityUnknown = "unknown"
	ReachabilityPublic  = "public"
	ReachabilityPrivate = "private"
)

func reachabilityName(r network.Reachability) string {
	switch r {
	case network.ReachabilityPublic:
		return ReachabilityPublic
	case network.ReachabilityPrivate:
		return ReachabilityPrivate
	}
	return ReachabilityUnknown
}

// reach is the node's view of its own reachability and its DHT mode.
type reach struct {
	// server reports whether the node serves the DHT and owns keys.
	server atomic.Bool
	// reachability is AutoNAT's latest verdict (network.Reachability).
	reachability atomic.Int32
	// private is the bus the DHT takes reachability from in auto mode: the
	// watcher passes a verdict on once it has held for the switch delay.
	private event.Bus
	// dialbackVerdict is the dial-back check's last verdict, -1 before
	// its first (network.Reachability).
	dialbackVerdict atomic.Int32
	// table is the DHT's routing table once the DHT runs: auto-relay's
	// source of relay candidates, which the host may call before.
	table atomic.Pointer[kb.RoutingTable]
	// relayOn, reservations and relayedConns: the relay service (relayTracer).
	relayOn                    atomic.Bool
	reservations, relayedConns atomic.Int64
}

// delayedHost is the host as an auto-mode DHT sees it: the same host, but
// the local reachability it switches on comes from the watcher, late.
type delayedHost struct {
	host.Host
	bus event.Bus
}

func (h delayedHost) EventBus() event.Bus { return h.bus }

// delayedBus is the host's bus with EvtLocalReachabilityChanged taken from
// another bus.
type delayedBus struct {
	event.Bus
	reach event.Bus
}

var reachabilityType = new(event.EvtLocalReachabilityChanged)

// Subscribe subscribes to the host's bus, except for reachability, which
// comes from the delayed bus, through one merged subscription.
func (b delayedBus) Subscribe(types any, opts ...event.SubscriptionOpt) (event.Subscription, error) {
	list, ok := types.([]any)
	if !ok {
		list = []any{types}
	}
	wantsReach := false
	rest := slices.DeleteFunc(slices.Clone(list), func(t any) bool {
		_, is := t.(*event.EvtLocalReachabilityChanged)
		wantsReach = wantsReach || is
		return is
	})
	if !wantsReach {
		return b.Bus.Subscribe(types, opts...)
	}
	reachSub, err := b.reach.Subscribe(reachabilityType, opts...)
	if err != nil {
		return nil, err
	}
	if len(rest) == 0 {
		return reachSub, nil
	}
	hostSub, err := b.Bus.Subscribe(rest, opts...)
	if err != nil {
		reachSub.Close()
		return nil, err
	}
	return mergeSubscriptions(hostSub, reachSub), nil
}

// merged is two subscriptions read as one.
type merged struct {
	a, b event.Subscription
	out  chan any
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

func mergeSubscriptions(a, b event.Subscription) event.Subscription {
	m := &merged{a: a, b: b, out: make(chan any, 16), done: make(chan struct{})}
	for _, s := range []event.Subscription{a, b} {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			for e := range s.Out() {
				select {
				case m.out <- e:
				case <-m.done:
					// Drain until the subscription closes.
				}
			}
		}()
	}
	go func() { m.wg.Wait(); close(m.out) }()
	return m
}

func (m *merged) Out() <-chan any { return m.out }
func (m *merged) Name() string    { return m.a.Name() }

// Close closes both subscriptions; Out closes once both have.
func (m *merged) Close() error {
	m.once.Do(func() { close(m.done) })
	return errors.Join(m.a.Close(), m.b.Close())
}

// startReach sets up the node's reachability watch before the DHT starts:
// the host the DHT is given and its mode option come from here.
func (s *Service) startReach() host.Host {
	s.reach.server.Store(s.cfg.DHTMode != DHTModeClient)
	s.reach.dialbackVerdict.Store(-1)
	if s.cfg.DHTMode != DHTModeAuto {
		return s.host
	}
	s.reach.private = eventbus.NewBus()
	return delayedHost{Host: s.host, bus: delayedBus{Bus: s.host.EventBus(), reach: s.reach.private}}
}

// dhtModeOption is kad-dht's mode for a DHT mode.
func dhtModeOption(mode string) dht.ModeOpt {
	switch mode {
	case DHTModeClient:
		return dht.ModeClient
	case DHTModeAuto:
		return dht.ModeAutoServer
	}
	return dht.ModeServer
}

// watchReach follows AutoNAT's verdicts. In auto mode it passes a verdict on
// to the DHT once it has held for ModeSwitchDelay, and then counts the node
// as a server or a client; repair hands over the keys a new client held.
func (s *Service) watchReach() error {
	sub, err := s.host.EventBus().Subscribe(reachabilityType)
	if err != nil {
		return fmt.Errorf("subscribe to reachability: %w", err)
	}
	var em event.Emitter
	if s.reach.private != nil {
		if em, err = s.reach.private.Emitter(reachabilityType, eventbus.Stateful); err != nil {
			sub.Close()
			return fmt.Errorf("reachability emitter: %w", err)
		}
	}
	s.setReachability(network.ReachabilityUnknown)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer sub.Close()
		if em != nil {
			defer em.Close()
		}
		var timer *time.Timer
		var fire <-chan time.Time
		pending := network.ReachabilityUnknown
		for {
			select {
			case <-s.ctx.Done():
				if timer != nil {
					timer.Stop()
				}
				return
			case e, ok := <-sub.Out():
				if !ok {
					return
				}
				r := e.(event.EvtLocalReachabilityChanged).Reachability
				s.setReachability(r)
				s.log.Info("reachability changed", "reachability", reachabilityName(r), "addrs", s.Addrs())
				if em == nil {
					continue
				}
				pending = r
				if timer != nil {
					timer.Stop()
				}
				timer = time.NewTimer(s.cfg.ModeSwitchDelay)
				fire = timer.C
			case <-fire:
				fire = nil
				server := pending != network.ReachabilityPrivate
				if err := em.Emit(event.EvtLocalReachabilityChanged{Reachability: pending}); err != nil {
					s.log.Warn("could not pass reachability to the DHT", "err", err)
					continue
				}
				if s.reach.server.Swap(server) != server {
					s.metrics.dhtServer.Set(boolGauge(server))
					s.log.Info("DHT mode switched", "mode", s.DHTMode(), "reachability", reachabilityName(pending))
					s.TriggerRepair()
				}
			}
		}
	}()
	return nil
}

func (s *Service) setReachability(r network.Reachability) {
	s.reach.reachability.Store(int32(r))
	for _, name := range []string{ReachabilityUnknown, ReachabilityPublic, ReachabilityPrivate} {
		s.metrics.reachability.WithLabelValues(name).Set(boolGauge(name == reachabilityName(r)))
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// DHTMode is the mode the node runs the DHT in now: DHTModeServer or
// DHTModeClient.
func (s *Service) DHTMode() string {
	if s.reach.server.Load() {
		return DHTModeServer
	}
	return DHTModeClient
}

// OwnsKeys reports whether the node serves the DHT and so may own keys.
func (s *Service) OwnsKeys() bool { return s.reach.server.Load() }

// Reachability is AutoNAT's latest verdict on this node: unknown, public or
// private.
func (s *Service) Reachability() string {
	return reachabilityName(network.Reachability(s.reach.reachability.Load()))
}

// PublicAddrs are the node's addresses that are public on the internet.
func (s *Service) PublicAddrs() []string {
	var out []string
	for _, a := range s.host.Addrs() {
		if manet.IsPublicAddr(a) && !isRelayAddr(a) {
			out = append(out, a.String())
		}
	}
	return out
}

// RelayAddrs are the node's addresses through a relay (…/p2p-circuit),
// which it holds a reservation on while it is unreachable.
func (s *Service) RelayAddrs() []string {
	var out []string
	for _, a := range s.host.Addrs() {
		if isRelayAddr(a) {
			out = append(out, a.String())
		}
	}
	return out
}

func isRelayAddr(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// RelayedPeers are the connected peers whose every connection goes
// through a relay, sorted.
func (s *Service) RelayedPeers() []string {
	var out []string
	for _, p := range s.host.Network().Peers() {
		conns := s.host.Network().ConnsToPeer(p)
		if len(conns) > 0 && !slices.ContainsFunc(conns, func(c network.Conn) bool { return !isRelayAddr(c.RemoteMultiaddr()) }) {
			out = append(out, p.String())
		}
	}
	slices.Sort(out)
	return out
}

// HolePunches counts the node's hole punches by outcome: "success" or
// "failure".
func (s *Service) HolePunches() map[string]int {
	var out map[string]int // nil until the first hole punch
	for _, o := range []string{metrics.OutcomeSuccess, metrics.OutcomeFailure} {
		if n := metrics.CounterValue(s.metrics.holePunches.WithLabelValues(o)); n > 0 {
			if out == nil {
				out = map[string]int{}
			}
			out[o] = int(n)
		}
	}
	return out
}

// holePunchTracer counts the outcome of each hole punch (DCUtR).
type holePunchTracer struct{ s *Service }

func (t holePunchTracer) Trace(evt *holepunch.Event) {
	end, ok := evt.Evt.(*holepunch.EndHolePunchEvt)
	if !ok {
		return
	}
	outcome := metrics.OutcomeFailure
	if end.Success {
		outcome = metrics.OutcomeSuccess
	}
	t.s.metrics.holePunches.WithLabelValues(outcome).Inc()
	t.s.log.Info("hole punch", "peer", evt.Remote, "outcome", outcome, "took", end.EllapsedTime, "err", end.Error)
}

// relayCandidates feeds auto-relay: the relays given with --relay first,
// then the servers of the routing table, closest to this node first.
func (s *Service) relayCandidates(ctx context.Context, num int) <-chan peer.AddrInfo {
	out := make(chan peer.AddrInfo, num)
	go func() {
		defer close(out)
		sent := 0
		send := func(ai peer.AddrInfo) bool {
			if sent >= num || ai.ID == s.self {
				return sent < num
			}
			select {
			case out <- ai:
				sent++
				return true
			case <-ctx.Done():
				return false
			}
		}
		for _, ai := range s.cfg.Relays {
			if !send(ai) {
				return
			}
		}
		rt := s.reach.table.Load()
		if rt == nil {
			return
		}
		for _, p := range rt.NearestPeers(kb.ConvertPeerID(s.self), num) {
			ai := s.host.Peerstore().PeerInfo(p)
			if len(ai.Addrs) == 0 || strings.Contains(ai.String(), "p2p-circuit") {
				continue
			}
			if !send(ai) {
				return
			}
		}
	}()
	return out
}

// relayTracer counts what the relay service does for unreachable peers:
// the reservations it holds and the connections it relays. It passes every
// event on to go-libp2p's own relay metrics, when they are registered.
type relayTracer struct {
	s    *Service
	next relayv2.MetricsTracer
}

func (t relayTracer) RelayStatus(enabled bool) {
	t.s.reach.relayOn.Store(enabled)
	if enabled {
		t.s.log.Info("relay service on: this node relays for peers behind NAT")
	}
	if t.next != nil {
		t.next.RelayStatus(enabled)
	}
}

func (t relayTracer) ConnectionOpened() {
	t.s.reach.relayedConns.Add(1)
	if t.next != nil {
		t.next.ConnectionOpened()
	}
}

func (t relayTracer) ConnectionClosed(d time.Duration) {
	t.s.reach.relayedConns.Add(-1)
	if t.next != nil {
		t.next.ConnectionClosed(d)
	}
}

func (t relayTracer) ConnectionRequestHandled(status pbv2.Status) {
	if t.next != nil {
		t.next.ConnectionRequestHandled(status)
	}
}

func (t relayTracer) ReservationAllowed(isRenewal bool) {
	if !isRenewal {
		t.s.reach.reservations.Add(1)
	}
	if t.next != nil {
		t.next.ReservationAllowed(isRenewal)
	}
}

func (t relayTracer) ReservationClosed(cnt int) {
	t.s.reach.reservations.Add(-int64(cnt))
	if t.next != nil {
		t.next.ReservationClosed(cnt)
	}
}

func (t relayTracer) ReservationRequestHandled(status pbv2.Status) {
	if t.next != nil {
		t.next.ReservationRequestHandled(status)
	}
}

func (t relayTracer) BytesTransferred(cnt int) {
	if t.next != nil {
		t.next.BytesTransferred(cnt)
	}
}

// RelayService says whether the node runs the relay service (it does while
// it is reachable), how many reservations of peers behind NAT it holds and
// how many connections it relays now.
func (s *Service) RelayService() (on bool, reservations, connections int) {
	return s.reach.relayOn.Load(), int(s.reach.reservations.Load()), int(s.reach.relayedConns.Load())
}
