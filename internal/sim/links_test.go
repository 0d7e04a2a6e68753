package sim

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/internal/testkit"
)

// TestLinks: each link's round trip is drawn once in the range, the same
// both ways and for the same seed; a lost request waits a retransmission
// timeout more; a cancelled search stops waiting.
func TestLinks(t *testing.T) {
	var ids []peer.ID
	for range 20 {
		id, err := peer.IDFromPrivateKey(testkit.Key(t))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	l := &Links{MinRTT: 20 * time.Millisecond, MaxRTT: 150 * time.Millisecond, Seed: 7}
	if err := l.Check(); err != nil {
		t.Fatal(err)
	}
	same := &Links{MinRTT: l.MinRTT, MaxRTT: l.MaxRTT, Seed: 7}
	other := &Links{MinRTT: l.MinRTT, MaxRTT: l.MaxRTT, Seed: 8}
	distinct, moved := map[time.Duration]bool{}, 0
	for _, a := range ids {
		if d := l.RTT(a, a); d != 0 {
			t.Fatalf("a node's link to itself takes %v", d)
		}
		for _, b := range ids {
			if a == b {
				continue
			}
			d := l.RTT(a, b)
			if d < l.MinRTT || d > l.MaxRTT || d != l.RTT(b, a) || d != same.RTT(a, b) {
				t.Fatalf("RTT %v (back %v, same seed %v), want one value in [%v, %v]", d, l.RTT(b, a), same.RTT(a, b), l.MinRTT, l.MaxRTT)
			}
			distinct[d] = true
			if other.RTT(a, b) != d {
				moved++
			}
		}
	}
	if len(distinct) < 100 || moved < 300 {
		t.Fatalf("%d distinct round trips over 190 links, %d moved with the seed: not drawn per link", len(distinct), moved)
	}

	lossy := &Links{MinRTT: time.Millisecond, MaxRTT: time.Millisecond, Loss: 0.999999, Seed: 1}
	began := time.Now()
	if err := lossy.wait(context.Background(), ids[0], ids[1]); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < RetransmitTimeout {
		t.Fatalf("a lost request took %v, want a retransmission timeout (%v) more", took, RetransmitTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := (&Links{MinRTT: time.Minute, MaxRTT: time.Minute}).wait(ctx, ids[0], ids[1]); err == nil {
		t.Fatal("a cancelled wait returned no error")
	}
	for _, bad := range []*Links{{MinRTT: 2, MaxRTT: 1}, {MinRTT: -1}, {Loss: 1}, {MaxRTT: time.Hour}} {
		if bad.Check() == nil {
			t.Errorf("%+v passed the check", bad)
		}
	}
}
