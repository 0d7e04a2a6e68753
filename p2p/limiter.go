package p2p

import (
	"context"
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

// WaitN spends n of k's tokens, waiting until k has them, and reports
// whether it had to wait. It fails, spending nothing, when n is above the
// burst or the wait would outlast ctx's deadline, and when ctx ends first
// (rate.Limiter.WaitN).
func (l *keyedLimiter[K]) WaitN(ctx context.Context, k K, n int) (waited bool, err error) {
	b := l.bucket(k)
	waited = b.TokensAt(time.Now()) < float64(n)
	return waited, b.WaitN(ctx, n)
}

// Delay is how long k would wait now for n tokens, spending nothing: 0
// for a key with no bucket (it has a full burst).
func (l *keyedLimiter[K]) Delay(k K, n int) time.Duration {
	l.mu.Lock()
	b, ok := l.buckets.Peek(k)
	l.mu.Unlock()
	if !ok {
		return 0
	}
	short := float64(n) - b.TokensAt(time.Now())
	if short <= 0 {
		return 0
	}
	return time.Duration(short / float64(b.Limit()) * float64(time.Second))
}

// Charge spends n of k's tokens now, into debt if the bucket has fewer:
// k spent them elsewhere, and waits for them to come back.
func (l *keyedLimiter[K]) Charge(k K, n int) {
	l.bucket(k).ReserveN(time.Now(), n)
}

// AllowN reports whether k may spend n tokens now, and spends them if so.
// A cost above the burst is never allowed.
func (l *keyedLimiter[K]) AllowN(k K, n int) bool {
	return l.bucket(k).AllowN(time.Now(), n)
}

// bucket is k's token bucket, made full if k has none.
func (l *keyedLimiter[K]) bucket(k K) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets.Get(k)
	if !ok {
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets.Add(k, b)
	}
	return b
}
