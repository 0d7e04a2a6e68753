package gate

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestGateSharesPlaces: a key gets at most its share, others still get in,
// a full gate refuses after the wait, and released places are reused with
// nothing left behind.
func TestGateSharesPlaces(t *testing.T) {
	ctx := context.Background()
	g := New(4, 2)
	var held []func()
	for range 2 {
		release, err := g.Enter(ctx, "a", time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, release)
	}
	if _, err := g.Enter(ctx, "a", 10*time.Millisecond); !errors.Is(err, ErrKeyFull) {
		t.Fatalf("a third place for a: %v, want ErrKeyFull", err)
	}
	for _, key := range []string{"b", ""} {
		release, err := g.Enter(ctx, key, time.Millisecond)
		if err != nil {
			t.Fatalf("key %q beside a full a: %v", key, err)
		}
		held = append(held, release)
	}
	if _, err := g.Enter(ctx, "c", 10*time.Millisecond); !errors.Is(err, ErrFull) {
		t.Fatalf("a place in a full gate: %v, want ErrFull", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.Enter(cctx, "c", time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("a canceled wait: %v", err)
	}
	// A waiter gets the place released while it waits.
	got := make(chan error, 1)
	go func() {
		release, err := g.Enter(ctx, "a", 5*time.Second)
		if err == nil {
			release()
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	held[0]()
	if err := <-got; err != nil {
		t.Fatalf("a waiter after a release: %v", err)
	}
	for _, release := range held[1:] {
		release()
	}
	if g.InUse() != 0 || len(g.keys) != 0 {
		t.Fatalf("after every release: %d places in use, %d keys tracked", g.InUse(), len(g.keys))
	}
}
