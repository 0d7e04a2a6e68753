package p2p

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

// A querier asks a key's owners in order of latency (Service.Latency), and
// an owner it has never measured comes last. Its DHT requests and searches
// measure the peers they reach, but an owner asked by neither would stay
// unmeasured, and so unasked, for good: a new honest owner would take no
// search load, and a liar among the owners would never be cross-checked.
// So the first time Latency is asked about a peer it has no figure for,
// the node pings the peer in the background (libp2p's ping protocol, which
// every host answers unless built without it) and the peerstore records
// the round trip.

// prober runs the background pings of peers not yet measured, within
// latencyProbes at once; the Service owns it and stops it on Close.
type prober struct {
	s *Service

	mu sync.Mutex
	// inFlight are the peers being pinged now.
	inFlight map[peer.ID]struct{}
	// failed holds, for a peer whose last ping failed, when it may be
	// pinged again.
	failed map[peer.ID]time.Time
	// closed stops new pings once the Service is closing.
	closed bool
	// started counts the pings started, peak the most in flight at once.
	started, peak int
	wg            sync.WaitGroup
}

func newProber(s *Service) *prober {
	return &prober{s: s, inFlight: map[peer.ID]struct{}{}, failed: map[peer.ID]time.Time{}}
}

// measure starts a ping of p unless one is in flight, p's last one failed
// within latencyProbeRetry, or latencyProbes are in flight already: then
// it does nothing (a later call asks again). It never blocks.
func (pr *prober) measure(p peer.ID) {
	now := time.Now()
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.closed || len(pr.inFlight) >= latencyProbes {
		return
	}
	if _, ok := pr.inFlight[p]; ok {
		return
	}
	if until, ok := pr.failed[p]; ok {
		if now.Before(until) {
			return
		}
		delete(pr.failed, p)
	}
	pr.inFlight[p] = struct{}{}
	pr.started++
	pr.peak = max(pr.peak, len(pr.inFlight))
	pr.wg.Add(1)
	go pr.ping(p)
}

// ping pings p once, within latencyProbeTimeout; ping.Ping records the
// round trip in the peerstore when p answers.
func (pr *prober) ping(p peer.ID) {
	defer pr.wg.Done()
	ctx, cancel := context.WithTimeout(pr.s.ctx, latencyProbeTimeout)
	results := ping.Ping(ctx, pr.s.host, p)
	res, ok := <-results
	if !ok {
		// ping.Ping closes results without one when ctx ends first.
		res.Error = fmt.Errorf("ping %s: %w", p, context.Cause(ctx))
	}
	cancel()
	// ping.Ping's goroutine ends once ctx is done, and closes results.
	for range results {
	}
	if res.Error != nil && pr.s.ctx.Err() == nil {
		pr.s.log.Debug("could not measure a peer's latency", "peer", p, "err", res.Error)
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	delete(pr.inFlight, p)
	if res.Error != nil {
		pr.fail(p, time.Now().Add(latencyProbeRetry))
	}
}

// fail notes that p may be pinged again from until on, within
// maxLatencyFailures peers: past them, it forgets the failures that
// expired, and when none did, p's (p may then be pinged again sooner,
// still within latencyProbes at once). pr.mu is held.
func (pr *prober) fail(p peer.ID, until time.Time) {
	if len(pr.failed) >= maxLatencyFailures {
		now := time.Now()
		for q, u := range pr.failed {
			if !now.Before(u) {
				delete(pr.failed, q)
			}
		}
		if len(pr.failed) >= maxLatencyFailures {
			return
		}
	}
	pr.failed[p] = until
}

// close stops new pings and waits for those in flight, which the
// Service's context, cancelled first, ends.
func (pr *prober) close() {
	pr.mu.Lock()
	pr.closed = true
	pr.mu.Unlock()
	pr.wg.Wait()
}
