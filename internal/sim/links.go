package sim

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Links models the network between simulated nodes, in real time scaled
// 1:1 (a search waits as long as it would over such links): each link's
// round-trip time, drawn once per pair of nodes uniformly from [MinRTT,
// MaxRTT], and the share of requests lost once on the way, which arrive
// after a retransmission timeout (streams run over TCP or QUIC, which
// resend). The zero value is links without delay or loss.
type Links struct {
	MinRTT, MaxRTT time.Duration
	// Loss is the probability that a request is lost once.
	Loss float64
	// Seed draws the links' round trips and losses.
	Seed uint64

	mu  sync.Mutex
	rng *rand.Rand
}

// RetransmitTimeout is how long a lost request waits before it is sent
// again: Linux's minimum TCP retransmission timeout.
const RetransmitTimeout = 200 * time.Millisecond

// Check refuses a model no network has.
func (l *Links) Check() error {
	switch {
	case l.MinRTT < 0 || l.MaxRTT < l.MinRTT || l.MaxRTT > time.Minute:
		return fmt.Errorf("round trips from %v to %v: want 0 <= min <= max <= 1m", l.MinRTT, l.MaxRTT)
	case l.Loss < 0 || l.Loss >= 1:
		return fmt.Errorf("loss %v: want at least 0 and less than 1", l.Loss)
	}
	return nil
}

// RTT is the round-trip time of the link between a and b (0 from a node
// to itself).
func (l *Links) RTT(a, b peer.ID) time.Duration {
	if a == b || l.MaxRTT == 0 {
		return 0
	}
	if b < a {
		a, b = b, a
	}
	h := fnv.New64a()
	var seed [8]byte
	binary.BigEndian.PutUint64(seed[:], l.Seed)
	h.Write(seed[:])
	h.Write([]byte(a))
	h.Write([]byte{0})
	h.Write([]byte(b))
	span := uint64(l.MaxRTT - l.MinRTT)
	if span == 0 {
		return l.MinRTT
	}
	return l.MinRTT + time.Duration(h.Sum64()%(span+1))
}

// wait holds a request from a to b (and its answer) for the link's round
// trip, and a retransmission timeout more if the request is lost.
func (l *Links) wait(ctx context.Context, a, b peer.ID) error {
	d := l.RTT(a, b)
	if a != b && l.Loss > 0 {
		l.mu.Lock()
		if l.rng == nil {
			l.rng = rand.New(rand.NewPCG(l.Seed, 0x6c696e6b))
		}
		lost := l.rng.Float64() < l.Loss
		l.mu.Unlock()
		if lost {
			d += max(RetransmitTimeout, 2*d)
		}
	}
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
