package p2p

import (
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// maxTrackedPeers bounds the token buckets one limiter keeps. When it is
// full, the bucket used least recently is dropped: a flood of fresh
// identities costs the flooder its own buckets, never a newcomer its
// access. A peer whose bucket was dropped starts again with a full burst,
// which is what an idle peer has anyway.
const maxTrackedPeers = 4096

// keyedLimiter is a token bucket per key (a peer, an author), the most
// recently used maxTracked of them.
type keyedLimiter[K comparable] struct {
	mu      sync.Mutex
	rate    rate.Limit
	burst   int
	buckets *lru.Cache[K, *rate.Limiter]
}

func newKeyedLimiter[K comparable](perSecond float64, burst, maxTracked int) *keyedLimiter[K] {
	c, err := lru.New[K, *rate.Limiter](maxTracked)
	if err != nil {
		panic(err) // only for a size below 1, a programming error
	}
	return &keyedLimiter[K]{rate: rate.Limit(perSecond), burst: burst, buckets: c}
}

// peerLimiter is a token bucket per remote peer.
type peerLimiter = keyedLimiter[peer.ID]

// newPeerLimiter bounds the requests of each peer.
func newPeerLimiter(perSecond float64, burst int) *peerLimiter {
	return newKeyedLimiter[peer.ID](perSecond, burst, maxTrackedPeers)
}

// Allow reports whether k may spend one token now.
func (l *keyedLimiter[K]) Allow(k K) bool { return l.AllowN(k, 1) }

// AllowN reports whether k may spend n tokens now, and spends them if so.
// A cost above the burst is never allowed.
func (l *keyedLimiter[K]) AllowN(k K, n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets.Get(k)
	if !ok {
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets.Add(k, b)
	}
	return b.AllowN(time.Now(), n)
}
