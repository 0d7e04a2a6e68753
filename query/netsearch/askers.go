package netsearch

import (
	"context"
	"sync/atomic"
	"time"
)

// Bounds of a coordinator's kept askers.
const (
	// MaxAskers bounds the goroutines kept to ask owners; an ask beyond
	// them runs on a goroutine of its own, as every ask once did.
	MaxAskers = 64
	// AskerIdle is how long a kept asker waits for the next ask before it
	// ends.
	AskerIdle = time.Second
)

// askers run a coordinator's asks of owners on goroutines kept from one
// ask to the next. An ask reads and decodes a whole answer, which grew a
// new goroutine's stack two or three times: copying stacks was 8% of the
// querier's CPU in the load step at N=8. A kept goroutine has grown its
// stack already. Each ends after AskerIdle without an ask, or when the
// coordinator closes.
type askers struct {
	ctx  context.Context // the coordinator's
	jobs chan func()     // unbuffered: a send succeeds only into an idle asker
	live atomic.Int32
}

func newAskers(ctx context.Context) *askers {
	return &askers{ctx: ctx, jobs: make(chan func())}
}

// run runs fn on an idle kept asker, or on a new one while fewer than
// MaxAskers live, or else on a goroutine of its own. It does not wait for
// fn.
func (a *askers) run(fn func()) {
	select {
	case a.jobs <- fn:
		return
	default:
	}
	if a.ctx.Err() == nil {
		if a.live.Add(1) <= MaxAskers {
			go a.work(fn)
			return
		}
		a.live.Add(-1)
	}
	go fn()
}

// work runs fn, then every ask handed to it until it has been idle for
// AskerIdle or the coordinator closes.
func (a *askers) work(fn func()) {
	defer a.live.Add(-1)
	idle := time.NewTimer(AskerIdle)
	defer idle.Stop()
	for {
		fn()
		idle.Reset(AskerIdle)
		select {
		case fn = <-a.jobs:
		case <-idle.C:
			return
		case <-a.ctx.Done():
			return
		}
	}
}
