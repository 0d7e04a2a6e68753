package p2p

import (
	"context"
	"errors"
	"fmt"
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

// errOverBurst is WaitN's error for a cost above the burst.
var errOverBurst = errors.New("costs more than the burst")

// WaitN spends n of k's tokens, waiting until k has them, and reports
// whether it had to wait. It fails, spending nothing, when n is above the
// burst or the wait would outlast ctx's deadline, and when ctx ends first.
func (l *keyedLimiter[K]) WaitN(ctx context.Context, k K, n int) (waited bool, err error) {
	l.mu.Lock()
	b, ok := l.buckets.Get(k)
	if !ok {
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets.Add(k, b)
	}
	l.mu.Unlock()
	now := time.Now()
	r := b.ReserveN(now, n)
	if !r.OK() {
		return false, fmt.Errorf("%d tokens: %w (%d)", n, errOverBurst, l.burst)
	}
	delay := r.DelayFrom(now)
	if delay == 0 {
		return false, nil
	}
	if d, ok := ctx.Deadline(); ok && d.Before(now.Add(delay)) {
		r.CancelAt(now)
		return true, fmt.Errorf("a wait of %v: %w", delay.Round(time.Millisecond), context.DeadlineExceeded)
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true, nil
	case <-ctx.Done():
		r.Cancel()
		return true, ctx.Err()
	}
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
