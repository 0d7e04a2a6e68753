package node

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/p2p"
)

const (
	// defaultAloneAfter is how long a node goes without a peer of its
	// network before it says it is alone (NetworkConfig.AloneAfter).
	defaultAloneAfter = 30 * time.Second
	// aloneRepeat is how often a node that stays alone says so again in
	// its log.
	aloneRepeat = 10 * time.Minute
)

// loneWatch notices a node without a peer of its network and says so: a
// warning in the log, once per aloneRepeat while it lasts, and the status's
// Alone and AloneHint.
type loneWatch struct {
	after time.Duration
	hint  string
	host  host.Host
	store protocol.ID // only peers of the network speak it
	log   *slog.Logger
	// started is when the node started: it is alone from then until its
	// first peer comes.
	started time.Time
	alone   atomic.Bool
}

func newLoneWatch(after time.Duration, h host.Host, network, dataDir string, started time.Time, log *slog.Logger) *loneWatch {
	return &loneWatch{after: after, hint: joinHint(network, dataDir), host: h,
		store: p2p.StoreProtocol(network), log: log, started: started}
}

// joinHint says how to join network for a node of dataDir that has no peer.
func joinHint(network, dataDir string) string {
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs // the command works from any directory
	}
	cmd := "murmur node --data " + shellQuote(dataDir)
	if network != p2p.DefaultNetwork {
		cmd += " --network " + shellQuote(network)
	}
	cmd += " --bootstrap /ip4/HOST/tcp/PORT/p2p/PEER-ID"
	return fmt.Sprintf("no peer of network %q is connected: to join it, copy one of the \"addrs\" that `murmur status` prints on a node of the network, and restart this node with it (and its other flags): %s", network, cmd)
}

// shellQuote quotes s for a POSIX shell if it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// run watches until ctx is done, looking every tenth of the delay (at most
// every 5 s) whether a peer of the network is connected.
func (w *loneWatch) run(ctx context.Context) {
	tick := time.NewTicker(min(max(w.after/10, 10*time.Millisecond), 5*time.Second))
	defer tick.Stop()
	since := w.started // when the current spell without peers began; zero while a peer is connected
	var warned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		if w.hasPeer() {
			if w.alone.Swap(false) {
				w.log.Info("no longer alone: a peer of the network is connected")
			}
			since, warned = time.Time{}, time.Time{}
			continue
		}
		if since.IsZero() {
			since = now
		}
		if now.Sub(since) < w.after {
			continue
		}
		w.alone.Store(true)
		if warned.IsZero() || now.Sub(warned) >= aloneRepeat {
			warned = now
			w.log.Warn("this node is alone", "for", now.Sub(since).Round(time.Second), "hint", w.hint)
		}
	}
}

// hasPeer reports whether a peer of the network is connected.
func (w *loneWatch) hasPeer() bool {
	for _, p := range w.host.Network().Peers() {
		if w.host.Network().Connectedness(p) != network.Connected {
			continue
		}
		if ok, _ := w.host.Peerstore().SupportsProtocols(p, w.store); len(ok) > 0 {
			return true
		}
	}
	return false
}

// status fills the status's Alone and AloneHint.
func (w *loneWatch) status(s *api.Status) {
	s.Alone = w.alone.Load()
	if s.Alone {
		s.AloneHint = w.hint
	}
}
