package p2p

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/metrics"
)

// flood asks for key counts (what a querier asks before every search) with
// ask from 8 goroutines as fast as they go, until stop reports true, and
// returns how many were answered and how many failed.
func flood(ask func(ctx context.Context) error, stop func() bool) (answered, failed int64) {
	var ok, bad atomic.Int64
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
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return ok.Load(), bad.Load()
}

// TestABusyQuerierIsNotCutOff: a node whose own users search faster than
// its peers take requests from one peer (PeerSearchRate) waits for its
// peers instead of being refused. Unpaced, the same node is refused, its
// refusals count as offences, and the peer cuts it off for BanDuration:
// a busy honest node would drop out of the network, banned by every peer
// it asks.
func TestABusyQuerierIsNotCutOff(t *testing.T) {
	withMetrics := func(c *Config) { c.Metrics = metrics.New() }
	keys := []string{"t/herons", "t/egrets"}

	t.Run("paced", func(t *testing.T) {
		net := startNetwork(t, 2, withMetrics)
		busy, owner := net.svcs[0], net.svcs[1]
		end := time.Now().Add(3 * time.Second)
		answered, failed := flood(func(ctx context.Context) error {
			_, err := busy.Counts(ctx, owner.ID(), keys)
			return err
		}, func() bool { return time.Now().After(end) })
		if failed > 0 {
			t.Errorf("%d of %d requests failed", failed, answered+failed)
		}
		if answered <= int64(pacedBurst(PeerSearchBurst)) {
			t.Errorf("%d requests answered in 3 s: pacing held the node back to less than one burst (%d)", answered, pacedBurst(PeerSearchBurst))
		}
		if got := refusedCount(owner.cfg.Metrics, metrics.ProtocolStats, metrics.RefusedRateLimited); got != 0 {
			t.Errorf("the owner refused %v requests as over the rate", got)
		}
		if owner.offenders.isBanned(busy.ID()) || refusedCount(owner.cfg.Metrics, metrics.ProtocolConn, metrics.RefusedBanned) != 0 {
			t.Error("the owner cut the busy node off")
		}
		if busy.Peers() != 1 {
			t.Errorf("the busy node is connected to %d peers, want 1", busy.Peers())
		}
		paced := metrics.Value(busy.cfg.Metrics.(prometheus.Gatherer), metrics.RequestsPaced, "protocol", metrics.ProtocolStats)
		if paced == 0 {
			t.Error("no request waited for the owner's rate")
		}
		t.Logf("paced: %d answered in 3 s (%.0f a second; the owner takes %d), %v waited", answered, float64(answered)/3, PeerSearchRate, paced)
	})

	t.Run("unpaced", func(t *testing.T) {
		net := startNetwork(t, 2, withMetrics)
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
