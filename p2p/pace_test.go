package p2p

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/metrics"
)

// flood asks for key counts (what a querier asks before every search) with
// ask from 8 goroutines as fast as they go, until stop reports true, and
// returns how many were answered and how many failed.
func flood(ask func(ctx context.Context) error, stop func() bool) (answered, failed int64) {
	answered, failed, _ = floodErr(ask, stop)
	return answered, failed
}

// floodErr is flood that also returns the first error.
func floodErr(ask func(ctx context.Context) error, stop func() bool) (answered, failed int64, first error) {
	var ok, bad atomic.Int64
	// The first error, whatever its type: an atomic.Value would panic
	// on a second error of another type.
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := ask(ctx)
				cancel()
				if err != nil {
					bad.Add(1)
					firstErr.CompareAndSwap(nil, &err)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		first = *p
	}
	return ok.Load(), bad.Load(), first
}

// TestABusyQuerierIsNotCutOff: a node whose own users search faster than
// its peers take requests from one peer (PeerSearchRate) waits for its
// peers, or borrows what an idle peer lends, instead of being refused.
// Unpaced, the same node is refused, its refusals count as offences, and
// the peer cuts it off for BanDuration: a busy honest node would drop out
// of the network, banned by every peer it asks.
func TestABusyQuerierIsNotCutOff(t *testing.T) {
	withMetrics := func(c *Config) { c.Metrics = metrics.New() }
	keys := []string{"t/herons", "t/egrets"}

	// An owner with no spare capacity: every request beyond the rate is
	// refused (NoLending).
	noSpare := func(c *Config) { withMetrics(c); c.NoLending = true }

	// askFor3s starts two nodes, has the first ask the second for key
	// counts as fast as 8 goroutines go for 3 s, and checks what holds
	// either way: no request failed and the owner did not cut the node off.
	askFor3s := func(t *testing.T, tweak func(*Config)) (busy, owner *Service, answered int64) {
		t.Helper()
		net := startNetwork(t, 2, tweak)
		busy, owner = net.svcs[0], net.svcs[1]
		end := time.Now().Add(3 * time.Second)
		answered, failed, first := floodErr(func(ctx context.Context) error {
			_, err := busy.Counts(ctx, owner.ID(), keys)
			return err
		}, func() bool { return time.Now().After(end) })
		if failed > 0 {
			t.Errorf("%d of %d requests failed, the first: %v", failed, answered+failed, first)
		}
		if owner.offenders.isBanned(busy.ID()) || refusedCount(owner.cfg.Metrics, metrics.ProtocolConn, metrics.RefusedBanned) != 0 {
			t.Error("the owner cut the busy node off")
		}
		return busy, owner, answered
	}

	t.Run("paced", func(t *testing.T) {
		busy, owner, answered := askFor3s(t, noSpare)
		if answered <= int64(pacedBurst(PeerSearchBurst)) {
			t.Errorf("%d requests answered in 3 s: pacing held the node back to less than one burst (%d)", answered, pacedBurst(PeerSearchBurst))
		}
		// The node probes for a loan now and then (each refusal in a row
		// holds it twice as long), and sends a refused request once more
		// within the rate.
		refused := refusedCount(owner.cfg.Metrics, metrics.ProtocolStats, metrics.RefusedRateLimited)
		if refused > 50 {
			t.Errorf("the owner refused %v requests as over the rate in 3 s", refused)
		}
		if busy.Peers() != 1 {
			t.Errorf("the busy node is connected to %d peers, want 1", busy.Peers())
		}
		paced := metrics.Value(busy.cfg.Metrics.(prometheus.Gatherer), metrics.RequestsPaced, "protocol", metrics.ProtocolStats)
		if paced == 0 {
			t.Error("no request waited for the owner's rate")
		}
		t.Logf("paced: %d answered in 3 s (%.0f a second; the owner takes %d), %v waited, %v refused probes for a loan", answered, float64(answered)/3, PeerSearchRate, paced, refused)
	})

	t.Run("borrowing", func(t *testing.T) {
		busy, owner, answered := askFor3s(t, withMetrics)
		// The owner, idle but for this node, lends it capacity beyond its
		// rate; the node backs off when the owner refuses, so refusals
		// stay far below what gets a peer cut off.
		reg := busy.cfg.Metrics.(prometheus.Gatherer)
		borrowed := metrics.Value(reg, metrics.RequestsBorrowed, "protocol", metrics.ProtocolStats, "outcome", metrics.OutcomeOK)
		refusedBorrowed := metrics.Value(reg, metrics.RequestsBorrowed, "protocol", metrics.ProtocolStats, "outcome", metrics.OutcomeRefused)
		lent := metrics.Value(owner.cfg.Metrics.(prometheus.Gatherer), metrics.RequestsLent, "protocol", metrics.ProtocolStats)
		if borrowed == 0 || lent == 0 {
			t.Errorf("the idle owner lent %v requests and the node borrowed %v answered: no spare capacity was used", lent, borrowed)
		}
		if refused := refusedCount(owner.cfg.Metrics, metrics.ProtocolStats, metrics.RefusedRateLimited); refused > OffenceBurst/10 {
			t.Errorf("the owner refused %v requests as over the rate: the node does not back off", refused)
		}
		t.Logf("borrowing: %d answered in 3 s (%.0f a second; the owner takes %d from a peer within its rate), %v borrowed and answered, %v borrowed and refused",
			answered, float64(answered)/3, PeerSearchRate, borrowed, refusedBorrowed)
	})

	t.Run("unpaced", func(t *testing.T) {
		net := startNetwork(t, 2, noSpare)
		busy, owner := net.svcs[0], net.svcs[1]
		end := time.Now().Add(20 * time.Second)
		// The same requests as Counts sends, on streams of the node's own
		// host, without its pacer.
		answered, failed := flood(func(ctx context.Context) error {
			var resp statsResponse
			return exchange(ctx, busy.Host(), owner, StatsProtocol(busy.Network()), &statsRequest{Keys: keys}, &resp)
		}, func() bool { return time.Now().After(end) || owner.offenders.isBanned(busy.ID()) })
		if !owner.offenders.isBanned(busy.ID()) {
			t.Fatalf("unpaced, %d requests answered and %d failed in 20 s, and the owner did not cut the node off: the attack this test guards against does not happen", answered, failed)
		}
		t.Logf("unpaced: cut off after %d answered and %d refused", answered, failed)
	})
}

// TestAnOwnerLendsOnlyItsSpareCapacity: an owner serves a peer beyond its
// rate only from spare capacity, SpareSearchRate of all peers together.
// A busy querier that borrows all it can is served, and so is another
// peer within its rate all the while; a peer that floods the owner
// unpaced gets no more than its rate and the spare.
func TestAnOwnerLendsOnlyItsSpareCapacity(t *testing.T) {
	net := startNetwork(t, 3, func(c *Config) { c.Metrics = metrics.New() })
	busy, owner, honest := net.svcs[0], net.svcs[1], net.svcs[2]
	keys := []string{"t/herons", "t/egrets"}
	lent := func() float64 {
		return metrics.Value(owner.cfg.Metrics.(prometheus.Gatherer), metrics.RequestsLent, "protocol", metrics.ProtocolStats)
	}

	// during runs load beside a peer that asks 50 times a second, within
	// its rate, and reports how long it ran and what the peer had answered.
	during := func(load func(stop func() bool) (answered, failed int64), d time.Duration, until func() bool) (elapsed float64, answered, failed, honestAnswered, honestFailed int64) {
		start := time.Now()
		stop := func() bool { return time.Since(start) > d || until() }
		var ok, bad atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(time.Second / 50)
			defer tick.Stop()
			for !stop() {
				<-tick.C
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if _, err := honest.Counts(ctx, owner.ID(), keys); err != nil {
					bad.Add(1)
				} else {
					ok.Add(1)
				}
				cancel()
			}
		}()
		answered, failed = load(stop)
		elapsed = time.Since(start).Seconds()
		<-done
		return elapsed, answered, failed, ok.Load(), bad.Load()
	}
	never := func() bool { return false }

	// A busy querier borrowing all the owner lends.
	elapsed, answered, failed, honestOK, honestBad := during(func(stop func() bool) (int64, int64) {
		return flood(func(ctx context.Context) error {
			_, err := busy.Counts(ctx, owner.ID(), keys)
			return err
		}, stop)
	}, 2*time.Second, never)
	spare := SpareSearchBurst + SpareSearchRate*elapsed
	t.Logf("borrower: in %.2f s %d answered, %d failed, %v lent of at most %.0f; the peer within its rate: %d answered, %d failed",
		elapsed, answered, failed, lent(), spare, honestOK, honestBad)
	if failed > 0 || owner.offenders.isBanned(busy.ID()) {
		t.Errorf("the borrowing querier had %d requests fail (banned: %v)", failed, owner.offenders.isBanned(busy.ID()))
	}
	if honestBad > 0 || honestOK == 0 {
		t.Errorf("the peer within its rate had %d answered and %d failed beside a borrower", honestOK, honestBad)
	}
	if lent() == 0 || lent() > spare {
		t.Errorf("the owner lent %v requests in %.2f s; want some, and at most its spare rate allows (%.0f)", lent(), elapsed, spare)
	}

	// The same querier, unpaced: the flood an attacker sends. The owner's
	// spare bucket is still spent by the borrower above, refilling.
	lentBefore := lent()
	elapsed, answered, refused, honestOK, honestBad := during(func(stop func() bool) (int64, int64) {
		return flood(func(ctx context.Context) error {
			var resp statsResponse
			return exchange(ctx, busy.Host(), owner, StatsProtocol(busy.Network()), &statsRequest{Keys: keys}, &resp)
		}, stop)
	}, 2*time.Second, func() bool { return owner.offenders.isBanned(busy.ID()) })
	bound := float64(PeerSearchBurst+SpareSearchBurst) + (PeerSearchRate+SpareSearchRate)*elapsed
	t.Logf("flooder: in %.2f s %d answered (%v lent) and %d refused, of at most %.0f answered; the peer within its rate: %d answered, %d failed",
		elapsed, answered, lent()-lentBefore, refused, bound, honestOK, honestBad)
	if float64(answered) > bound {
		t.Errorf("the owner answered the flooder %d times in %.2f s, more than its rate and all its spare capacity (%.0f)", answered, elapsed, bound)
	}
	if honestBad > 0 {
		t.Errorf("the peer within its rate had %d requests fail beside a flooder", honestBad)
	}
}

// TestALoanBacksOffAPeerThatKeepsRefusing: a loan grows while the peer
// answers, halves when it refuses, and a peer that keeps refusing is
// probed ever less often, a minute apart at most.
func TestALoanBacksOffAPeerThatKeepsRefusing(t *testing.T) {
	l := newLoans()
	p := peer.ID("lender")
	loanOf := func() *loan {
		ln, _ := l.byPeer.Peek(p)
		return ln
	}
	if !l.take(p, 1) {
		t.Fatal("a peer never asked lends nothing: no probe")
	}
	for range 100 {
		l.repaid(p)
	}
	if got, want := float64(loanOf().limiter.Limit()), float64(loanStart+100*loanGrowth); got != want {
		t.Fatalf("after 100 answered borrowed requests the loan is %v a second, want %v", got, want)
	}
	holds := []time.Duration{}
	for range 9 {
		before := time.Now()
		l.refused(p)
		holds = append(holds, loanOf().heldUntil.Sub(before).Round(time.Second))
		if l.take(p, 1) || l.available(p) {
			t.Fatal("the node borrows from a peer that has just refused")
		}
		l.refused(p) // in flight when the first came: counts once
		loanOf().heldUntil = time.Now()
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 64, 64}
	for i := range want {
		if holds[i] != want[i]*time.Second {
			t.Fatalf("holds after refusals in a row: %v, want %v s", holds, want)
		}
	}
	if got := float64(loanOf().limiter.Limit()); got != loanStart {
		t.Errorf("after refusals in a row the loan is %v a second, want the least, %v", got, loanStart)
	}
	l.repaid(p)
	l.refused(p)
	if hold := time.Until(loanOf().heldUntil); hold > loanHold {
		t.Errorf("a refusal after an answer holds the loan %v, want %v again", hold, loanHold)
	}
}
