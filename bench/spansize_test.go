package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/corpus"
	"github.com/murmur-p2p/murmur/internal/sim"
	"github.com/murmur-p2p/murmur/internal/testenv"
	"github.com/murmur-p2p/murmur/post"
)

// BenchmarkSpanDeviations measures how a span of a hot term's shards is
// sized (netsearch.Config.SpanDeviations: standard deviations above its
// binomial share of the page) against what a first page of 10 costs: hot
// terms' wire bytes and rounds per warm search, over simulated networks of
// N nodes (internal/sim, whose bytes equal a real network's) with the
// network benchmark's 2,000 posts and 30 queries of each kind.
func BenchmarkSpanDeviations(b *testing.B) {
	ctx, dir, ps, ref, qs := simMix(b)
	for _, n := range []int{8, 16, 32} {
		net, err := sim.New(ctx, filepath.Join(dir, fmt.Sprint(n)), n, ps, 1, sim.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for _, sds := range []float64{3, 2, 1} {
			b.Run(fmt.Sprintf("nodes=%d/sds=%g", n, sds), func(b *testing.B) {
				net.Coordinator.SpanDeviations = sds
				var rep *sim.Report
				for range b.N {
					if rep, err = net.Search(ctx, ref, qs, 10, nil); err != nil {
						b.Fatal(err)
					}
				}
				hot := rep.PerKind["hot"]
				b.ReportMetric(hot.BytesPerQuery, "hot-B/query")
				b.ReportMetric(hot.RoundTripsPerQuery, "hot-rounds/query")
				b.ReportMetric(rep.BytesPerQuery, "B/query")
				b.ReportMetric(rep.Recall, "recall")
			})
		}
		net.Close()
	}
}

// BenchmarkDigestsFirst measures what asking the keys of a plan of
// several (a hot term's shards, an OR's branches) for digests first, and
// fetching only the hits that make the page, saves against asking them
// whole (netsearch.Config.NoDigestsFirst), and from how many pages' worth
// of remote hits it pays (Config.DigestsFirstPages), on a first page of
// 10: wire bytes and rounds per warm search of the kinds with several
// keys, over simulated networks of N nodes with the network benchmark's
// posts and 30 queries of each kind.
func BenchmarkDigestsFirst(b *testing.B) {
	ctx, dir, ps, ref, qs := simMix(b)
	for _, n := range []int{4, 8, 16, 32} {
		net, err := sim.New(ctx, filepath.Join(dir, fmt.Sprint(n)), n, ps, 1, sim.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for _, pages := range []float64{0, 0.01, 1, 1.5, 2} {
			name := fmt.Sprintf("digests-from-%gpages", pages)
			if pages == 0 {
				name = "whole"
			}
			b.Run(fmt.Sprintf("nodes=%d/%s", n, name), func(b *testing.B) {
				net.Coordinator.NoDigestsFirst = pages == 0
				net.Coordinator.DigestsFirstPages = pages
				var rep *sim.Report
				for range b.N {
					if rep, err = net.Search(ctx, ref, qs, 10, nil); err != nil {
						b.Fatal(err)
					}
				}
				for _, kind := range []string{"hot", "or"} {
					k := rep.PerKind[kind]
					b.ReportMetric(k.BytesPerQuery, kind+"-B/query")
					b.ReportMetric(k.RoundTripsPerQuery, kind+"-rounds/query")
				}
				b.ReportMetric(rep.BytesPerQuery, "B/query")
				b.ReportMetric(rep.Recall, "recall")
			})
		}
		net.Close()
	}
}

// simMix is what the simulator benchmarks search: the network benchmark's
// posts, one index over them (closed when b ends), 30 queries of each kind
// of the mix, and a directory for the simulated networks.
func simMix(b *testing.B) (ctx context.Context, dir string, ps []*post.Post, ref *index.Index, qs []sim.Query) {
	b.Helper()
	testenv.Need(b, corpus.Available(), "the fortunes corpus", corpus.InstallHint)
	ps, err := sim.SamplePosts(searchNetPosts, 1)
	if err != nil {
		b.Fatal(err)
	}
	ctx = context.Background()
	dir = b.TempDir()
	ref, err = sim.OneIndex(ctx, filepath.Join(dir, "ref"), ps)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ref.Close() })
	return ctx, dir, ps, ref, sim.Mix(sim.Texts(ps), 30)
}
