package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// maxTrackedPeers bounds the per-peer limiters kept; idle ones are dropped.
const maxTrackedPeers = 4096

// peerLimiter is a token bucket per remote peer.
type peerLimiter struct {
	mu     sync.Mutex
	rate   rate.Limit
	burst  int
	peers  map[peer.ID]*peerBucket
	lastGC time.Time
}

type peerBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newPeerLimiter(perSecond float64, burst int) *peerLimiter {
	return &peerLimiter{rate: rate.Limit(perSecond), burst: burst, peers: map[peer.ID]*peerBucket{}}
}

// Allow reports whether p may make one more request now.
func (l *peerLimiter) Allow(p peer.ID) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.peers[p]
	if b == nil {
		if len(l.peers) >= maxTrackedPeers && now.Sub(l.lastGC) > time.Second {
			for id, e := range l.peers {
				if now.Sub(e.seen) > time.Minute {
					delete(l.peers, id)
				}
			}
			l.lastGC = now
		}
		if len(l.peers) >= maxTrackedPeers {
			return false // under a flood of new peers, refuse rather than grow
		}
		b = &peerBucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.peers[p] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}
