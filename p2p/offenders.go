package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/puzzle"
)

// A peer whose requests keep being refused is cut off for a while: each
// refusal still costs the node the transport's work (a stream opened, the
// bytes sent decrypted), and a flooder makes a thousand attempts a second.
const (
	// OffenceRate and OffenceBurst bound the refused requests a peer may
	// earn: an honest peer over its rate now and then stays far below.
	OffenceRate  = 100
	OffenceBurst = 1000
	// BanDuration is how long a peer over its offences is cut off: its
	// connections are closed and it may not connect again until then.
	BanDuration = 30 * time.Second
)

// offenders counts the refusals each peer earns and bans those over the
// bound. Safe for concurrent use.
type offenders struct {
	refusals *peerLimiter
	mu       sync.Mutex
	banned   map[peer.ID]time.Time // until when
}

func newOffenders() *offenders {
	return &offenders{refusals: newPeerLimiter(OffenceRate, OffenceBurst), banned: map[peer.ID]time.Time{}}
}

// offend records a refusal of p's and reports whether it got p banned: true
// once per ban, though requests of p's still in flight keep being refused.
func (o *offenders) offend(p peer.ID) bool {
	if o.refusals.Allow(p) {
		return false
	}
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if until, ok := o.banned[p]; ok && now.Before(until) {
		return false
	}
	if len(o.banned) >= maxTrackedPeers {
		for id, until := range o.banned {
			if now.After(until) {
				delete(o.banned, id)
			}
		}
	}
	if len(o.banned) < maxTrackedPeers {
		o.banned[p] = now.Add(BanDuration)
	}
	return true
}

// isBanned reports whether p is cut off now.
func (o *offenders) isBanned(p peer.ID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	until, ok := o.banned[p]
	if ok && time.Now().After(until) {
		delete(o.banned, p)
		return false
	}
	return ok
}

// banGater refuses connections of banned peers and of peers whose ID does
// not solve the network's puzzle, then asks next, if any.
type banGater struct {
	o          *offenders
	difficulty int
	refused    prometheus.Counter // counts refused identities
	next       connmgr.ConnectionGater
}

// costly reports whether p paid the network's price of an identity.
func (g banGater) costly(p peer.ID) bool {
	if puzzle.Solves(p, g.difficulty) {
		return true
	}
	g.refused.Inc()
	return false
}

func (g banGater) InterceptPeerDial(p peer.ID) bool {
	return g.costly(p) && !g.o.isBanned(p) && (g.next == nil || g.next.InterceptPeerDial(p))
}

func (g banGater) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	return g.next == nil || g.next.InterceptAddrDial(p, a)
}

func (g banGater) InterceptAccept(cm network.ConnMultiaddrs) bool {
	return g.next == nil || g.next.InterceptAccept(cm)
}

func (g banGater) InterceptSecured(dir network.Direction, p peer.ID, cm network.ConnMultiaddrs) bool {
	return g.costly(p) && !g.o.isBanned(p) && (g.next == nil || g.next.InterceptSecured(dir, p, cm))
}

func (g banGater) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	if g.next == nil {
		return true, 0
	}
	return g.next.InterceptUpgraded(c)
}
