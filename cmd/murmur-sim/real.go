package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/murmur-p2p/murmur/internal/sim"
	"github.com/murmur-p2p/murmur/internal/simnet"
	"github.com/murmur-p2p/murmur/post"
)

// maxRealNodes bounds --engine p2p's network: each node is a real one,
// with a bleve index on disk, an HTTP listener and its goroutines.
const maxRealNodes = 1000

// Time on --engine p2p's network. Repair, settling and eviction run on
// real clocks; these shorten p2p's defaults (a minute, 3 minutes, 10
// minutes) so that a run takes minutes, not hours.
const (
	realRepairInterval = 2 * time.Second
	realSettleMargin   = 2 * time.Second
	realEvictInterval  = 5 * time.Second
	// realWriteBatch is how many posts one node writes at once.
	realWriteBatch = 50
)

type realOptions struct {
	seed           uint64
	limit, splitAt int
	rtt            time.Duration
	churn          string
	// timeScale is how many times faster than real time churn's virtual
	// time runs.
	timeScale float64
	progress  func(stage string, done, total int)
	// logLevel, if set, is the level of the nodes' logs on stderr.
	logLevel string
	// compare also runs the model engine over the same identities, posts
	// and queries, once the real nodes have searched.
	compare bool
}

// runReal runs the queries over n real nodes (package node) on libp2p's
// simulated network: the posts are written through the nodes and placed
// by p2p, the network settles (repair, eviction), and each query runs on
// a node as in the model. emit gets the report before the nodes stop.
func runReal(ctx context.Context, dir string, n int, ps []*post.Post, qs []sim.Query, o realOptions, emit func(*sim.Report) error) error {
	splitAt := o.splitAt
	if splitAt == 0 {
		splitAt = -1 // none, as the model's 0
	}
	var logger *slog.Logger
	if o.logLevel != "" {
		var level slog.Level
		if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
			return fmt.Errorf("--node-log %q: %w", o.logLevel, err)
		}
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	net, err := simnet.Start(ctx, filepath.Join(dir, "nodes"), n, simnet.Options{Logger: logger,
		Latency: o.rtt / 2, Seed: o.seed, SplitAt: splitAt,
		RepairInterval: realRepairInterval, SettleMargin: realSettleMargin, KeySettleFor: realSettleMargin, EvictInterval: realEvictInterval,
	}, func(done, total int) { o.progress("nodes", done, total) })
	if err != nil {
		return err
	}
	defer net.Close()
	before := net.Traffic()
	short, err := net.Write(ctx, ps, realWriteBatch, func(done, total int) { o.progress("writing", done, total) })
	if err != nil {
		return err
	}
	if short > 0 {
		o.progress(fmt.Sprintf("(%d posts short of their write quorum; repair places them)", short), 1, 1)
	}
	// Two eviction passes after the network settled: the writers' copies
	// of posts whose keys they do not own are dropped.
	settling := func(done, total int) { o.progress("settled", done, total) }
	if err := net.SettleReporting(ctx, settling); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * realEvictInterval):
	}
	o.progress("evicting", 1, 1)
	if err := net.SettleReporting(ctx, settling); err != nil {
		return err
	}
	after := net.Traffic()
	ref, err := sim.OneIndex(ctx, filepath.Join(dir, "one-index"), ps)
	if err != nil {
		return err
	}
	defer ref.Close()
	var stopChurn func() simnet.ChurnStats
	var sessions []time.Duration
	// Under churn the searches are spread over the model's window, as the
	// model engine spreads them, so that nodes leave and join among them.
	var over time.Duration
	churnBegan := net.Traffic()
	if o.churn == "ipfs" {
		model := sim.IPFSChurn()
		over = time.Duration(float64(model.Window) / o.timeScale)
		r := rand.New(rand.NewPCG(o.seed, 4))
		session := func(*rand.Rand) time.Duration {
			s := model.Session(r)
			sessions = append(sessions, s)
			return s
		}
		stopChurn = net.Churn(ctx, session, o.timeScale, o.seed)
		o.progress("churn warmup", 0, 1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(float64(model.Warmup) / o.timeScale)):
		}
		o.progress("churn warmup", 1, 1)
	}
	began := time.Now()
	rep, err := net.SearchOver(ctx, ref, qs, o.limit, over, func(done, total int) { o.progress("searches", done, total) })
	if stopChurn != nil {
		stats := stopChurn()
		if err == nil {
			c := rep.Churn
			if c == nil {
				c = &sim.ChurnReport{}
			}
			c.Model = "ipfs"
			c.Leaves, c.Joins = stats.Leaves, stats.Joins
			c.RepairPostings = int(net.Traffic().Minus(churnBegan).HandedOff)
			c.VirtualHours = (time.Hour.Seconds() + time.Since(began).Seconds()*o.timeScale) / time.Hour.Seconds()
			if len(sessions) > 0 {
				s := slices.Clone(sessions)
				slices.Sort(s)
				c.MedianSessionMinutes = s[len(s)/2].Minutes()
			}
			rep.Churn = c
		}
		if stats.Err != nil {
			o.progress(fmt.Sprintf("(%d joins or leaves failed: %v)", stats.Failed, stats.Err), 1, 1)
		}
	}
	if err != nil {
		return err
	}
	if err := net.Placement(ctx, rep, ps, before, after); err != nil {
		return err
	}
	if err := emit(rep); err != nil {
		return err
	}
	if o.compare {
		var ids []peer.ID
		for _, m := range net.Alive() {
			ids = append(ids, m.ID())
		}
		// The real nodes' background work (repair, eviction) would share
		// the CPU with the model's.
		o.progress("stopping the nodes", 0, 1)
		net.Close()
		began := time.Now()
		model, err := sim.NewOf(ctx, filepath.Join(dir, "model"), ids, ps, sim.Options{SplitAt: o.splitAt, Progress: o.progress})
		if err != nil {
			return err
		}
		defer model.Close()
		mrep, err := model.Search(ctx, ref, qs, o.limit, func(done, total int) { o.progress("model searches", done, total) })
		if err != nil {
			return err
		}
		model.PlacementOf(mrep, ps)
		mrep.SetupSeconds = time.Since(began).Seconds() - mrep.SearchSeconds
		if err := emit(mrep); err != nil {
			return err
		}
	}
	o.progress("stopping the nodes", 0, 1)
	return nil
}
