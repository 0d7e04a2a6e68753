package netsearch

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/internal/poll"
)

// TestAskersKeepBoundAndEnd: asks one after another run on a kept
// asker; more asks at once than MaxAskers all run, the ones beyond on
// goroutines of their own, and no more than MaxAskers are kept; every
// kept asker ends once the coordinator closes.
func TestAskersKeepBoundAndEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := newAskers(ctx)
	for range 20 {
		done := make(chan struct{})
		a.run(func() { close(done) })
		<-done
		time.Sleep(2 * time.Millisecond) // for the asker to wait for the next
	}
	// Without keeping, each ask would leave an asker of its own waiting
	// for AskerIdle: 20. A send can miss an asker that has not reached
	// its wait yet, hence the margin.
	if n := a.live.Load(); n > 5 {
		t.Fatalf("%d askers kept after 20 asks one at a time, want about 1", n)
	}

	release := make(chan struct{})
	var started sync.WaitGroup
	const asks = MaxAskers + 10
	started.Add(asks)
	for range asks {
		a.run(func() {
			started.Done()
			<-release
		})
	}
	started.Wait() // every ask runs, though MaxAskers are busy
	if n := a.live.Load(); n > MaxAskers {
		t.Fatalf("%d askers kept, the bound is %d", n, MaxAskers)
	}
	close(release)

	cancel()
	poll.Until(t, "every kept asker to end", 5*time.Second, time.Millisecond, func() bool { return a.live.Load() == 0 })
	ran := make(chan struct{})
	a.run(func() { close(ran) }) // after the end, an ask still runs
	<-ran
	if n := a.live.Load(); n != 0 {
		t.Fatalf("%d askers kept after the coordinator closed", n)
	}
}
