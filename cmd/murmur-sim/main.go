// Command murmur-sim runs murmur's network search, unchanged, over many
// simulated nodes in one process (package internal/sim) and prints what a
// search costs and finds:
//
//	go run ./cmd/murmur-sim --nodes 300 --posts 2000 --queries 60 --json
//
// Each node has a real bleve index holding the posts of the keys it owns,
// placed as a settled network places them; every search is compared with
// one index over the same posts. --churn ipfs makes nodes leave and join
// at IPFS rates, with repair as a delay (--repair-delay). Progress goes to
// stderr.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/murmur-p2p/murmur/internal/sim"
	"github.com/murmur-p2p/murmur/keyspace"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "murmur-sim:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("murmur-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	engine := fs.String("engine", "model", "what runs the nodes: model (a search over nodes placed as a settled network would be; up to 100,000 nodes) or p2p (real nodes, package node, over libp2p's in-process simulated network: p2p's own placement, owner lookups, repair and eviction; a few hundred nodes)")
	nodes := fs.Int("nodes", 100, "simulated nodes")
	posts := fs.Int("posts", 2000, "posts, drawn from the fortunes corpus")
	queries := fs.Int("queries", 60, "queries, spread over the kinds of the mix")
	churn := fs.String("churn", "none", "churn model: none (a settled network) or ipfs (IPFS session lengths, each leaver replaced by a new node; see internal/sim)")
	settle := fs.String("settle", "key", "with --churn ipfs: how queriers settle after a change: key (every owner of the keys whose owners changed is asked, as p2p does) or network (of every key while any changed, p2p's rule before)")
	repairDelay := fs.Duration("repair-delay", sim.IPFSChurn().RepairDelay, "with --churn ipfs: how long after a node leaves or joins repair hands its keys on (virtual time)")
	seed := fs.Uint64("seed", 1, "seed of the nodes' and authors' identities (the same seed places the same way)")
	limit := fs.Int("limit", 10, "hits on a first page")
	splitAt := fs.Int("split-at", keyspace.SplitAt, "split each term that at least this many posts hold, by month and post ID, as its owners would have once settled (0: none)")
	noDigestsFirst := fs.Bool("no-digests-first", false, "ask the keys of a plan of several for their hits at once, not digests first (murmur before digests first; for comparing)")
	rtt := fs.String("rtt", "0", "round-trip time of each link between nodes, in real time: one duration, or MIN-MAX to draw each link's uniformly (e.g. 20ms-150ms)")
	loss := fs.Float64("loss", 0, "share of requests lost once, answered after a retransmission timeout (200ms or twice the round trip)")
	timeScale := fs.Float64("time-scale", 60, "with --engine p2p --churn ipfs: how many times faster than real time the sessions run (60: a virtual hour a minute)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	compare := fs.Bool("compare", false, "with --engine p2p: then run the model engine over the same node identities, posts and queries, and print its report too (JSON: a second object)")
	nodeLog := fs.String("node-log", "", "with --engine p2p: write the nodes' logs at this level (debug, info, warn, error) to stderr; none when empty")
	dir := fs.String("dir", "", "directory for the nodes' indexes (default: a temporary one, removed after)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: murmur-sim [flags]\n\nRuns murmur's network search over simulated nodes and compares every search with one index.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *nodes < 1 || *nodes > 100_000:
		return fmt.Errorf("--nodes %d: want 1 to 100000", *nodes)
	case *posts < 1:
		return fmt.Errorf("--posts %d: want at least 1", *posts)
	case *queries < 1:
		return fmt.Errorf("--queries %d: want at least 1", *queries)
	case *limit < 1 || *limit > 1000:
		return fmt.Errorf("--limit %d: want 1 to 1000", *limit)
	case *churn != "none" && *churn != "ipfs":
		return fmt.Errorf("--churn %q: want none or ipfs", *churn)
	case *settle != "network" && *settle != "key":
		return fmt.Errorf("--settle %q: want network or key", *settle)
	case *splitAt < 0:
		return fmt.Errorf("--split-at %d: want 0 (none) or more", *splitAt)
	case *repairDelay <= 0 || *repairDelay > 24*time.Hour:
		return fmt.Errorf("--repair-delay %v: want more than 0 and at most 24h", *repairDelay)
	case *engine != "model" && *engine != "p2p":
		return fmt.Errorf("--engine %q: want model or p2p", *engine)
	case *engine == "p2p" && *nodes > maxRealNodes:
		return fmt.Errorf("--engine p2p --nodes %d: at most %d (each node is a real one, with its index and its goroutines)", *nodes, maxRealNodes)
	case *engine == "p2p" && (*loss != 0 || strings.Contains(*rtt, "-")):
		return fmt.Errorf("--engine p2p: one --rtt for every link, and no --loss (libp2p's simulated network delays every link alike and loses nothing)")
	case *timeScale < 1 || *timeScale > 3600:
		return fmt.Errorf("--time-scale %v: want 1 to 3600", *timeScale)
	case *engine == "p2p" && *noDigestsFirst:
		return fmt.Errorf("--engine p2p: --no-digests-first is for --engine model")
	}
	links, err := parseLinks(*rtt, *loss, *seed)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *dir == "" {
		d, err := os.MkdirTemp("", "murmur-sim-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	start := time.Now()
	ps, err := sim.SamplePosts(*posts, *seed)
	if err != nil {
		return err
	}
	progress := func(stage string, done, total int) {
		fmt.Fprintf(stderr, "\r%-10s %d/%d (%s)   ", stage, done, total, time.Since(start).Round(time.Second))
		if done == total {
			fmt.Fprintln(stderr)
		}
	}
	perKind := (*queries + len(sim.Kinds) - 1) / len(sim.Kinds)
	qs := sim.Mix(sim.Texts(ps), perKind)
	if len(qs) > *queries {
		qs = qs[:*queries]
	}
	if *engine == "p2p" {
		return runReal(ctx, *dir, *nodes, ps, qs, realOptions{
			seed: *seed, limit: *limit, splitAt: *splitAt, rtt: links.MinRTT, churn: *churn, timeScale: *timeScale, progress: progress, logLevel: *nodeLog, compare: *compare,
		}, func(rep *sim.Report) error {
			if rep.Engine == "p2p" {
				rep.SetupSeconds = time.Since(start).Seconds() - rep.SearchSeconds
			}
			return printReport(stdout, rep, *asJSON)
		})
	}
	net, err := sim.New(ctx, filepath.Join(*dir, "nodes"), *nodes, ps, *seed, sim.Options{SplitAt: *splitAt, Progress: progress})
	if err != nil {
		return err
	}
	defer net.Close()
	net.Coordinator.NoDigestsFirst = *noDigestsFirst
	net.Links.MinRTT, net.Links.MaxRTT, net.Links.Loss, net.Links.Seed = links.MinRTT, links.MaxRTT, links.Loss, links.Seed
	ref, err := sim.OneIndex(ctx, filepath.Join(*dir, "one-index"), ps)
	if err != nil {
		return err
	}
	defer ref.Close()
	setup := time.Since(start)
	if *churn == "ipfs" {
		model := sim.IPFSChurn()
		model.RepairDelay = *repairDelay
		model.SettleByKey = *settle == "key"
		net.StartChurn(model, *seed)
	}
	rep, err := net.Search(ctx, ref, qs, *limit, func(done, total int) { progress("searches", done, total) })
	if err != nil {
		return err
	}
	net.PlacementOf(rep, ps)
	rep.SetupSeconds = setup.Seconds()
	return printReport(stdout, rep, *asJSON)
}

// printReport writes the report, as JSON or as a table.
func printReport(stdout io.Writer, rep *sim.Report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "engine\t%s\n", rep.Engine)
	fmt.Fprintf(tw, "nodes\t%d\nposts\t%d\nqueries\t%d\nrecall\t%.4f\nexact totals\t%.4f\npartial answers\t%.4f (%d short of the one index without saying so)\nmessages/query\t%.1f\nbytes/query\t%.0f\nlookups/query\t%.1f\nround trips/query\t%.2f\ncold messages/query\t%.1f\ncold bytes/query\t%.0f\ncopies/post\t%.1f\nsplit terms (leaves)\t%d (%d)\nplacement bytes/post\t%.0f\nheap bytes/node\t%.0f\ntotals heard\t%.4f of the nodes, after %d gatherings (%.0f messages) a querier\nstatistics error\t%.4f\n",
		rep.Nodes, rep.Posts, rep.Queries, rep.Recall, rep.ExactTotals, rep.PartialShare, rep.ShortWithoutPartial, rep.MessagesPerQuery, rep.BytesPerQuery, rep.LookupsPerQuery, rep.RoundTripsPerQuery,
		rep.ColdMessagesPerQuery, rep.ColdBytesPerQuery, rep.PlacementCopiesPerPost, rep.SplitTerms, rep.SplitLeaves, rep.PlacementBytesPerPost, rep.HeapBytesPerNode,
		rep.TotalsHeard, rep.SettleGatherings, rep.SettleMessagesPerQuerier, rep.StatsError)
	if rep.SurveyLookupsPerQuerier > 0 {
		fmt.Fprintf(tw, "survey lookups/querier\t%.1f\n", rep.SurveyLookupsPerQuerier)
	}
	if rep.PlacementMessagesPerPost > 0 {
		fmt.Fprintf(tw, "placement messages/post\t%.1f\nplacement lookups/post\t%.2f\n", rep.PlacementMessagesPerPost, rep.PlacementLookupsPerPost)
	}
	if c := rep.Churn; c != nil {
		fmt.Fprintf(tw, "churn\t%s over %.1f virtual hours: %d left, %d joined (median session %.0f min)\nrepair\t%d keys handed on (%d postings); %d keys lost (%d postings)\nsearches while settling\t%.2f\n",
			c.Model, c.VirtualHours, c.Leaves, c.Joins, c.MedianSessionMinutes, c.Repairs, c.RepairPostings, c.LostKeys, c.LostPostings, c.SettlingShare)
	}
	fmt.Fprintf(tw, "latency p50/p99\t%.1f / %.1f ms\n", rep.LatencyP50Ms, rep.LatencyP99Ms)
	fmt.Fprintln(tw, "\nkind\tqueries\trecall\tmessages/query\tbytes/query\tlookups/query\tround trips/query\tp50 ms\tp99 ms")
	for _, k := range rep.KindsInOrder() {
		r := rep.PerKind[k]
		fmt.Fprintf(tw, "%s\t%d\t%.4f\t%.1f\t%.0f\t%.1f\t%.2f\t%.1f\t%.1f\n", k, r.Queries, r.Recall, r.MessagesPerQuery, r.BytesPerQuery, r.LookupsPerQuery, r.RoundTripsPerQuery, r.LatencyP50Ms, r.LatencyP99Ms)
	}
	types := []string{sim.MessageSearchRequest, sim.MessageWholeAnswer, sim.MessageDigest, sim.MessageChecksum, sim.MessageCounts, sim.MessageSummary}
	fmt.Fprintln(tw, "\nbytes/query by message\t"+strings.Join(types, "\t"))
	for _, k := range rep.KindsInOrder() {
		fmt.Fprint(tw, k)
		for _, typ := range types {
			fmt.Fprintf(tw, "\t%.0f", rep.PerKind[k].BytesByMessage[typ])
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// parseLinks reads --rtt (one duration, or MIN-MAX) and --loss.
func parseLinks(rtt string, loss float64, seed uint64) (*sim.Links, error) {
	l := &sim.Links{Loss: loss, Seed: seed}
	lo, hi, ranged := strings.Cut(rtt, "-")
	var err error
	if l.MinRTT, err = time.ParseDuration(lo); err != nil {
		return nil, fmt.Errorf("--rtt %q: %w", rtt, err)
	}
	l.MaxRTT = l.MinRTT
	if ranged {
		if l.MaxRTT, err = time.ParseDuration(hi); err != nil {
			return nil, fmt.Errorf("--rtt %q: %w", rtt, err)
		}
	}
	if err := l.Check(); err != nil {
		return nil, fmt.Errorf("--rtt %q --loss %v: %w", rtt, loss, err)
	}
	return l, nil
}
