package puzzle

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestGrindSolvesAndBitsCounts(t *testing.T) {
	for _, d := range []int{0, 1, 6, 10} {
		var reports int
		key, err := Grind(context.Background(), d, 2, time.Millisecond, func(Progress) { reports++ })
		if err != nil {
			t.Fatalf("d=%d: %v", d, err)
		}
		id, err := peer.IDFromPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if !Solves(id, d) || Bits(id) < d {
			t.Fatalf("d=%d: ground ID %s has %d bits", d, id, Bits(id))
		}
	}
}

func TestRandomIDsMostlyFail(t *testing.T) {
	// Half of all IDs have no leading zero bit, so among 200 random
	// keys, those that solve d=8 are rare (expected 0.8) and those with
	// zero bits are about 100.
	var zero, solve8 int
	for range 200 {
		key, ok, err := Try(8)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := peer.IDFromPrivateKey(key)
		if Bits(id) == 0 {
			zero++
		}
		if ok {
			solve8++
		}
	}
	if zero < 60 || zero > 140 || solve8 > 6 {
		t.Fatalf("of 200 random IDs, %d have no zero bit and %d solve d=8", zero, solve8)
	}
}

func TestGrindStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Grind(ctx, MaxDifficulty, 1, time.Second, nil); err == nil {
		t.Fatal("a 40-bit puzzle solved in 50 ms")
	}
	if _, err := Grind(context.Background(), MaxDifficulty+1, 1, time.Second, nil); err == nil {
		t.Fatal("a difficulty over the maximum was accepted")
	}
}

// BenchmarkTry is the cost of one try; DefaultDifficulty is sized from it.
func BenchmarkTry(b *testing.B) {
	for b.Loop() {
		if _, _, err := Try(1); err != nil {
			b.Fatal(err)
		}
	}
}
