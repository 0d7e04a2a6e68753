// Package gate admits work within two bounds: how much runs at once in all,
// and how much of it one key (a caller, a peer) may hold, so that one
// caller cannot take every place.
package gate

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Errors of Enter.
var (
	// ErrFull means every place was taken for the whole wait.
	ErrFull = errors.New("every place is taken")
	// ErrKeyFull means the key held all its places for the whole wait.
	ErrKeyFull = errors.New("this caller holds all its places")
)

// Gate bounds the work running at once. Safe for concurrent use.
type Gate struct {
	total  chan struct{}
	perKey int
	mu     sync.Mutex
	// keys holds the places of keys with work running or waiting, so it
	// never outgrows what is in flight.
	keys map[string]*keySlots
}

type keySlots struct {
	sem   chan struct{}
	users int
}

// New makes a gate of total places, perKey of them at most for one key.
func New(total, perKey int) *Gate {
	return &Gate{total: make(chan struct{}, total), perKey: perKey, keys: map[string]*keySlots{}}
}

// Enter waits up to wait for a place for key's work (key "" takes only a
// place in all); release gives it back. It fails with ErrKeyFull, ErrFull
// or ctx's error.
func (g *Gate) Enter(ctx context.Context, key string, wait time.Duration) (release func(), err error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	ks := g.join(key)
	if ks != nil {
		select {
		case ks.sem <- struct{}{}:
		case <-timer.C:
			g.leave(key, ks, false)
			return nil, ErrKeyFull
		case <-ctx.Done():
			g.leave(key, ks, false)
			return nil, ctx.Err()
		}
	}
	select {
	case g.total <- struct{}{}:
	case <-timer.C:
		g.leave(key, ks, true)
		return nil, ErrFull
	case <-ctx.Done():
		g.leave(key, ks, true)
		return nil, ctx.Err()
	}
	return func() {
		<-g.total
		g.leave(key, ks, true)
	}, nil
}

// Size is the number of places in all.
func (g *Gate) Size() int { return cap(g.total) }

// InUse is the number of places taken.
func (g *Gate) InUse() int { return len(g.total) }

func (g *Gate) join(key string) *keySlots {
	if key == "" {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	ks := g.keys[key]
	if ks == nil {
		ks = &keySlots{sem: make(chan struct{}, g.perKey)}
		g.keys[key] = ks
	}
	ks.users++
	return ks
}

func (g *Gate) leave(key string, ks *keySlots, held bool) {
	if ks == nil {
		return
	}
	if held {
		<-ks.sem
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if ks.users--; ks.users == 0 {
		delete(g.keys, key)
	}
}
