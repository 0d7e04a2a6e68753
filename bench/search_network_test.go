//go:build unix

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/corpus"
	"github.com/murmur-p2p/murmur/internal/sim"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
	"github.com/murmur-p2p/murmur/query/netsearch"
	"github.com/murmur-p2p/murmur/testnet"
)

// Sizes of the network search benchmark.
const (
	// searchNetPosts is how many fortunes the network holds.
	searchNetPosts = 2000
	// searchPerKind is how many distinct queries each kind has.
	searchPerKind = 10
	// searchWarmReps is how often a warm query is timed, after one untimed
	// run that fills the caches.
	searchWarmReps = 10
	// searchLoadQueries and searchLoadWorkers shape the throughput run:
	// that many searches from a fixed pool of that many goroutines, in
	// chunks of searchLoadChunk alternating with as many on the reference.
	searchLoadQueries = 400
	searchLoadWorkers = 8
	searchLoadChunk   = 50
	// searchPage is the page size asked for.
	searchPage = 20
	// searchImportTimeout bounds the import of the posts into one network.
	searchImportTimeout = 10 * time.Minute
	// searchSettleMargin is the nodes' settling margin: p2p's default (3
	// minutes, for the slow repair passes of a loaded real network) would
	// outlast searchSettleTimeout, and every search would ask every owner.
	searchSettleMargin = 20 * time.Second
	// searchSettleTimeout bounds the wait for repair to settle after the
	// import.
	searchSettleTimeout = 2 * time.Minute
	// searchIdleWindow is how long the idle network's CPU use is measured.
	searchIdleWindow = 5 * time.Second
)

// searchKinds are the kinds of query in the fixed mix, in report order:
//
//	rare     one term found in 1 to 3 posts
//	common   one term found in 20 or more posts, not a stop word
//	hot      one stop word found in 30 or more posts: split into 16 keys
//	and      a common term AND a mid term (4 to 19 posts), from one post
//	and-hot  a stop word AND a mid term, from one post
//	phrase   two adjacent words of one post, at most one a stop word
//	or       a mid term OR another mid term
var searchKinds = sim.Kinds

// netQuery is one query of the mix; g is its position in the whole mix,
// which picks the node that runs it.
type netQuery struct {
	kind, q string
	g       int
}

// searchNet is a running network holding the benchmark's posts, with one
// bleve index over the same posts as the reference.
type searchNet struct {
	net    *testnet.Net
	ref    *index.Index
	byKind map[string][]netQuery
	// all is every query, ordered by g.
	all []netQuery
	// started, imported and settled are how long the network took to
	// start, to import the posts and for repair to settle after that.
	started, imported, settled time.Duration
	// quiet: no node was settling when the measurements began.
	quiet bool
	// idleCores is the CPU the network used, in cores, in
	// searchIdleWindow without searches right after settling.
	idleCores float64
	// coldPasses counts the cold passes run per kind: pass p sends query g
	// to node (g+p) mod N, so each pass meets only (node, query) pairs not
	// searched before as long as p < N.
	coldPasses map[string]int
	// warmWire is each kind's warm wire bytes per query, for the
	// simulator's like-for-like comparison.
	warmWire map[string]float64
}

// BenchmarkNetworkSearch measures network-wide search on N-node loopback
// networks (N = 4, 8, 16, and 32 unless -short) holding 2,000 fortunes
// imported through three nodes, against one local index over the same
// posts searched in the same process (the reference), with a fixed mix of
// queries drawn from the texts (searchKinds, 10 of each).
//
//	nodes=N/setup        how long the import and the wait for repair to
//	                     settle took, and the idle network's CPU use
//	nodes=N/cold/<kind>  each query once, on a node that has never seen any
//	                     of its terms, with its network totals invalidated
//	nodes=N/warm/<kind>  each query repeated on one node, each time next to
//	                     the same query on the reference
//	nodes=N/load         400 warm searches of the whole mix from 8
//	                     goroutines against node 0, in chunks alternating
//	                     with as many on the reference: queries per second
//	nodes=N/floor        bare libp2p exchanges of a search's size from node
//	                     0, from the same pool, against the reference: what
//	                     one remote exchange per search allows at most
//
// One operation of cold or warm runs every query of its kind; cold allows
// at most N operations (run it with -benchtime 1x). Latencies are per
// search. Wire bytes are the querying node's search and stats protocol
// bytes sent plus received: every message of a search goes to or from it
// (DHT lookups are not counted). CPU is the whole process's (every node's,
// background work included: see nodes=N/setup) during the search, from
// getrusage, which is steadier than latency on a shared machine.
func BenchmarkNetworkSearch(b *testing.B) {
	es := sample(b, searchNetPosts)
	mix := searchMix(b, es)
	for _, kind := range searchKinds {
		var qs []string
		for _, q := range mix {
			if q.kind == kind {
				qs = append(qs, q.q)
			}
		}
		b.Logf("%s: %q", kind, qs)
	}
	sizes := []int{4, 8, 16, 32}
	if testing.Short() {
		sizes = sizes[:3]
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			s := startSearchNet(b, n, es, mix)
			b.Run("setup", s.reportSetup)
			for _, kind := range searchKinds {
				b.Run("cold/"+kind, func(b *testing.B) { s.cold(b, kind) })
			}
			for _, kind := range searchKinds {
				b.Run("warm/"+kind, func(b *testing.B) { s.warm(b, kind) })
			}
			b.Run("sim", s.simulate)
			b.Run("load", s.load)
			b.Run("floor", s.floor)
		})
	}
}

// searchMix draws searchPerKind queries of each kind from the texts
// (sim.Mix, which murmur-sim runs too, so that the simulator's figures
// compare with these).
func searchMix(b *testing.B, es []corpus.Entry) []netQuery {
	b.Helper()
	texts := make([]string, len(es))
	for i, e := range es {
		texts[i] = e.Text
	}
	var out []netQuery
	n := map[string]int{}
	for _, q := range sim.Mix(texts, searchPerKind) {
		out = append(out, netQuery{kind: q.Kind, q: q.Q})
		n[q.Kind]++
	}
	for _, kind := range searchKinds {
		if n[kind] < searchPerKind {
			b.Fatalf("only %d %s queries in %d texts", n[kind], kind, len(es))
		}
	}
	// Number the queries so that consecutive positions, and so nodes, get
	// different kinds: kind k's j-th query is at j*len(searchKinds)+k.
	for i := range out {
		out[i].g = (i%searchPerKind)*len(searchKinds) + i/searchPerKind
	}
	return out
}

// startSearchNet starts n nodes, imports es through three of them, waits
// until repair is quiet, and builds the reference index over every post
// the network holds.
func startSearchNet(b *testing.B, n int, es []corpus.Entry, mix []netQuery) *searchNet {
	b.Helper()
	start := time.Now()
	// Seeded identities: every run, and every build, places the keys on
	// the same nodes, so that node 0 owns the same share of them.
	net := testnet.Start(b, n, testnet.Options{SettleMargin: searchSettleMargin, KeySettleFor: searchSettleMargin, KeySeed: 1})
	started := time.Since(start)
	start = time.Now()
	// Beyond 20 nodes every key's owners are found by a DHT lookup, and
	// placement slows down so much (docs/benchmarks.md) that the import is
	// bounded rather than left to the test timeout.
	ctx, cancel := context.WithTimeout(context.Background(), searchImportTimeout)
	defer cancel()
	importers := []int{0, n / 2, n - 1}
	third := len(es) / 3
	accepted := 0
	for i, nd := range importers {
		chunk := es[i*third : (i+1)*third]
		if i == len(importers)-1 {
			chunk = es[i*third:]
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for j, e := range chunk {
			day := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i*third+j) * time.Hour)
			if err := enc.Encode(api.ImportLine{Text: e.Text, Lang: e.Lang, CreatedAt: day.Format(time.RFC3339), Author: "fortune-" + e.Lang}); err != nil {
				b.Fatal(err)
			}
		}
		res, err := net.Nodes[nd].Import(ctx, &buf, api.ImportOptions{}, nil)
		accepted += res.Accepted
		if ctx.Err() != nil {
			b.Fatalf("%d nodes: %d of %d posts imported in %v, the limit; placement is too slow at this size to benchmark search",
				n, accepted, len(es), time.Since(start).Round(time.Second))
		}
		if err != nil || res.Accepted != len(chunk) {
			b.Fatalf("import through node %d: %+v, %v", nd, res, err)
		}
	}
	imported := time.Since(start)
	// Wait for repair to settle on every node (a node that settles asks
	// every owner of a key), but no longer than searchSettleTimeout: the
	// measurements report how many searches ran on a settling node.
	start = time.Now()
	quiet := false
	for !quiet && time.Since(start) < searchSettleTimeout {
		time.Sleep(250 * time.Millisecond)
		quiet = true
		for _, nd := range net.Alive() {
			if nd.Net().Settling() {
				quiet = false
			}
		}
	}
	settled := time.Since(start)

	posts := net.Posts()
	if len(posts) != len(es) {
		b.Fatalf("the network holds %d distinct posts, %d were imported", len(posts), len(es))
	}
	ref := testnet.ReferenceIndex(b, posts)
	s := &searchNet{net: net, ref: ref, byKind: map[string][]netQuery{}, all: slices.Clone(mix), coldPasses: map[string]int{}, warmWire: map[string]float64{},
		started: started, imported: imported, settled: settled, quiet: quiet, idleCores: idleCores()}
	for _, q := range mix {
		s.byKind[q.kind] = append(s.byKind[q.kind], q)
	}
	// The throughput run takes the queries in this order: the kinds mixed.
	slices.SortFunc(s.all, func(a, c netQuery) int { return a.g - c.g })
	return s
}

// simulate runs the mix again in the simulator (internal/sim) over the
// same node identities and posts, each query on the same node, and
// reports each kind's simulated warm wire bytes over the real network's
// (sim-over-real-<kind>; the warm runs before it measure those). The
// simulator places posts at the R closest nodes, as a settled network
// does, and counts the search and stats protocols' JSON both ways.
func (s *searchNet) simulate(b *testing.B) {
	ctx := context.Background()
	ids := make([]peer.ID, len(s.net.Nodes))
	for i, nd := range s.net.Nodes {
		ids[i] = nd.ID()
	}
	posts := slices.Collect(maps.Values(s.net.Posts()))
	slices.SortFunc(posts, func(a, c *post.Post) int { return strings.Compare(a.ID, c.ID) })
	var rep *sim.Report
	for range b.N {
		net, err := sim.NewOf(ctx, b.TempDir(), ids, posts, sim.Options{})
		if err != nil {
			b.Fatal(err)
		}
		qs := make([]sim.Query, len(s.all))
		for i, q := range s.all {
			qs[i] = sim.Query{Kind: q.kind, Q: q.q}
		}
		rep, err = net.SearchAt(ctx, s.ref, qs, func(i int) int { return s.all[i].g }, searchPage, nil)
		net.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	within := 0
	for _, kind := range searchKinds {
		k := rep.PerKind[kind]
		real := s.warmWire[kind]
		if k == nil || real == 0 {
			b.Fatalf("%s: no simulated or real figures (run the warm benchmarks first)", kind)
		}
		ratio := k.BytesPerQuery / real
		if ratio >= 0.8 && ratio <= 1.2 {
			within++
		}
		b.ReportMetric(ratio, "sim-over-real-"+kind)
		b.Logf("%s: real %.0f, simulated %.0f wire bytes a warm query (%.2f)", kind, real, k.BytesPerQuery, ratio)
	}
	b.ReportMetric(float64(within), "kinds-within-20%")
	b.ReportMetric(rep.Recall, "sim-recall")
}

// idleCores measures the CPU the process uses, in cores, over
// searchIdleWindow while the benchmark does nothing: the network's own
// background work (repair, routing), which every figure measured in this
// process competes with.
func idleCores() float64 {
	cpu := cpuTime()
	start := time.Now()
	time.Sleep(searchIdleWindow)
	return float64(cpuTime()-cpu) / float64(time.Since(start))
}

// reportSetup reports how the network was set up; it measures nothing of
// its own.
func (s *searchNet) reportSetup(b *testing.B) {
	for range b.N {
	}
	b.ReportMetric(s.started.Seconds(), "start-s")
	b.ReportMetric(s.imported.Seconds(), "import-s")
	b.ReportMetric(float64(searchNetPosts)/s.imported.Seconds(), "import-posts/s")
	b.ReportMetric(s.settled.Seconds(), "settle-s")
	quiet := 0.0
	if s.quiet {
		quiet = 1
	}
	b.ReportMetric(quiet, "settled")
	b.ReportMetric(s.idleCores, "idle-cores")
}

// wireBytes is what a node sent and received on the search and stats
// protocols so far.
func wireBytes(nd *testnet.Member) float64 {
	// One gathering for the four values: the load step reads them twice a
	// chunk, and four gatherings were a fifth of its CPU profile.
	families, err := nd.Metrics().Gather()
	if err != nil {
		return 0
	}
	total := 0.0
	for _, proto := range []string{metrics.ProtocolSearch, metrics.ProtocolStats} {
		for _, dir := range []string{metrics.DirectionIn, metrics.DirectionOut} {
			total += metrics.ValueIn(families, metrics.ProtocolBytes, "protocol", proto, "direction", dir)
		}
	}
	return total
}

// servedOutcome is how many searches every node served to peers with the
// given outcome so far.
func (s *searchNet) servedOutcome(outcome string) float64 {
	total := 0.0
	for _, nd := range s.net.Alive() {
		total += metrics.Value(nd.Metrics(), metrics.SearchServed, "outcome", outcome)
	}
	return total
}

// netSample is what one network search cost.
type netSample struct {
	took, cpu  time.Duration
	roundTrips int
	peers      int
	shards     int
	wire       float64
	total      uint64
	partial    bool
	// settling: the querying node was settling (a membership change not
	// yet repaired), so it asked two owners of each key.
	settling bool
}

func (s *searchNet) search(b *testing.B, nd *testnet.Member, q string) netSample {
	settling := nd.Net().Settling()
	before := wireBytes(nd)
	cpu := cpuTime()
	start := time.Now()
	res, err := nd.Search(context.Background(), query.Request{Q: q, Limit: searchPage})
	took := time.Since(start)
	cpu = cpuTime() - cpu
	if err != nil {
		b.Fatalf("%q on node %d: %v", q, nd.Index, err)
	}
	if took > time.Second {
		b.Logf("slow: %q on node %d took %v: %d round trips, %d peers, %d shards (%d failed), %.0f wire bytes",
			q, nd.Index, took.Round(time.Millisecond), res.RoundTrips, res.PeersAsked, res.Shards.Asked, res.Shards.Failed, wireBytes(nd)-before)
	}
	return netSample{took: took, cpu: cpu, roundTrips: res.RoundTrips, peers: res.PeersAsked, shards: res.Shards.Asked,
		wire: wireBytes(nd) - before, total: res.Total, partial: res.Partial, settling: settling}
}

func (s *searchNet) searchRef(b *testing.B, q string) (took, cpu time.Duration, total uint64) {
	cpu = cpuTime()
	start := time.Now()
	res, err := query.Run(context.Background(), s.ref, query.Request{Q: q, Limit: searchPage})
	took = time.Since(start)
	cpu = cpuTime() - cpu
	if err != nil {
		b.Fatalf("%q on the reference: %v", q, err)
	}
	return took, cpu, res.Total
}

// cpuTime is the CPU time the process (every node, and the reference) has
// used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cold runs each query of kind once, on a node that has never searched any
// of its terms, after making that node forget the network totals.
func (s *searchNet) cold(b *testing.B, kind string) {
	n := len(s.net.Nodes)
	var samples []netSample
	for range b.N {
		pass := s.coldPasses[kind]
		if pass >= n {
			b.Fatalf("cold: every (node, %s query) pair of the %d-node network was searched already; run at most %dx", kind, n, n)
		}
		s.coldPasses[kind]++
		for _, q := range s.byKind[kind] {
			nd := s.net.Nodes[(q.g+pass)%n]
			nd.Searches().InvalidateTotals()
			samples = append(samples, s.search(b, nd, q.q))
		}
	}
	b.StopTimer()
	reportNet(b, samples)
}

// warm runs each query of kind on one node once untimed, then times it
// searchWarmReps times, each time next to the same query on the reference,
// alternating which goes first.
func (s *searchNet) warm(b *testing.B, kind string) {
	n := len(s.net.Nodes)
	var samples []netSample
	var ref []time.Duration
	var refCPU time.Duration
	mismatch := 0
	for range b.N {
		for _, q := range s.byKind[kind] {
			nd := s.net.Nodes[q.g%n]
			s.search(b, nd, q.q)
			_, _, want := s.searchRef(b, q.q)
			for r := range searchWarmReps {
				var got netSample
				var took, cpu time.Duration
				if r%2 == 0 {
					got = s.search(b, nd, q.q)
					took, cpu, _ = s.searchRef(b, q.q)
				} else {
					took, cpu, _ = s.searchRef(b, q.q)
					got = s.search(b, nd, q.q)
				}
				samples = append(samples, got)
				ref = append(ref, took)
				refCPU += cpu
				if got.total != want {
					mismatch++
					if mismatch <= 3 {
						b.Logf("%q on node %d: %d matches, the reference has %d", q.q, nd.Index, got.total, want)
					}
				}
			}
		}
	}
	b.StopTimer()
	reportNet(b, samples)
	wire := 0.0
	for _, x := range samples {
		wire += x.wire
	}
	s.warmWire[kind] = wire / float64(max(1, len(samples)))
	lats := make([]time.Duration, len(samples))
	for i, x := range samples {
		lats[i] = x.took
	}
	p50, p99 := percentiles(lats)
	r50, r99 := percentiles(ref)
	var cpu time.Duration
	for _, x := range samples {
		cpu += x.cpu
	}
	b.ReportMetric(ms(r50), "ref-p50-ms")
	b.ReportMetric(ms(r99), "ref-p99-ms")
	b.ReportMetric(ms(refCPU)/float64(len(ref)), "ref-cpu-ms/query")
	b.ReportMetric(float64(p50)/float64(r50), "p50-x-ref")
	b.ReportMetric(float64(p99)/float64(r99), "p99-x-ref")
	b.ReportMetric(float64(cpu)/float64(refCPU), "cpu-x-ref")
	multi := 0
	for _, x := range samples {
		if x.roundTrips > 1 {
			multi++
		}
	}
	b.ReportMetric(float64(multi)/float64(len(samples)), "multi-rt-share")
	b.ReportMetric(float64(mismatch), "total-mismatches")
}

// oneIndexLabel is the pprof label value (of testnet.ProfileLabel) of the
// load step's searches on the one index.
const oneIndexLabel = "one-index"

// profileLoad starts a CPU profile of the load step alone, written to
// the file MURMUR_LOAD_CPUPROFILE names (-test.cpuprofile would also hold
// the network's setup), and returns the function that stops it. The
// function returns the profile's CPU seconds by the value of the label
// testnet.ProfileLabel ("" for samples without it: the garbage
// collector's workers, timers), or nil when nothing was profiled. With
// MURMUR_LOAD_ALLOCPROFILE=P it also writes the allocation profile to
// P.before at the start and P.after at the end: `go tool pprof
// -sample_index=alloc_space -base P.before test P.after` is the load
// step's allocations alone.
func profileLoad(b *testing.B) (stop func() map[string]float64) {
	allocs := os.Getenv("MURMUR_LOAD_ALLOCPROFILE")
	writeAllocs := func(suffix string) {
		if allocs == "" {
			return
		}
		runtime.GC() // the profile's counts are as of the last GC
		f, err := os.Create(allocs + suffix)
		if err != nil {
			b.Fatalf("load allocation profile: %v", err)
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			b.Fatalf("load allocation profile: %v", err)
		}
	}
	writeAllocs(".before")
	path := os.Getenv("MURMUR_LOAD_CPUPROFILE")
	if path == "" {
		return func() map[string]float64 { writeAllocs(".after"); return nil }
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatalf("load profile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatalf("load profile: %v", err)
	}
	return func() map[string]float64 {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Errorf("load profile: %v", err)
		}
		writeAllocs(".after")
		byNode, err := cpuByLabel(path, testnet.ProfileLabel)
		if err != nil {
			b.Errorf("load profile: %v", err)
		}
		return byNode
	}
}

// cpuByLabel reads the CPU profile at path and returns its CPU seconds by
// the value of label key ("" for samples without it).
func cpuByLabel(path, key string) (map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	prof, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	cpu := slices.IndexFunc(prof.SampleType, func(t *profile.ValueType) bool { return t.Type == "cpu" })
	if cpu < 0 {
		return nil, fmt.Errorf("%s holds no cpu samples", path)
	}
	out := map[string]float64{}
	for _, s := range prof.Sample {
		var v string
		if vs := s.Label[key]; len(vs) > 0 {
			v = vs[0]
		}
		out[v] += float64(s.Value[cpu]) / 1e9
	}
	return out, nil
}

// load runs searchLoadQueries warm searches of the whole mix from
// searchLoadWorkers goroutines against node 0, and as many against the
// reference, in alternating chunks of searchLoadChunk so that both see the
// same machine, and reports both rates and the CPU time per search.
func (s *searchNet) load(b *testing.B) {
	idle := idleCores()
	nd := s.net.Nodes[0]
	want := make([]uint64, len(s.all))
	for i, q := range s.all {
		s.search(b, nd, q.q)
		_, _, want[i] = s.searchRef(b, q.q)
	}
	stopProfile := profileLoad(b)
	b.ResetTimer()
	var netTime, refTime, netCPU, refCPU time.Duration
	var wire float64
	var lats []time.Duration
	var mu sync.Mutex
	partial, failed, settling, wrong := 0, 0, 0, 0
	netChunk := func(first int) {
		before := wireBytes(nd)
		cpu := cpuTime()
		netTime += runPool(first, "0", func(i int) {
			settles := nd.Net().Settling()
			start := time.Now()
			res, err := nd.Search(context.Background(), query.Request{Q: s.all[i%len(s.all)].q, Limit: searchPage})
			took := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			lats = append(lats, took)
			if settles {
				settling++
			}
			switch {
			case err != nil:
				failed++
			case res.Partial:
				partial++
			case res.Total != want[i%len(s.all)]:
				// A complete answer with another total than the one
				// index's is wrong, and the user is not told.
				wrong++
				if wrong <= 3 {
					b.Logf("load: %q: %d matches, not partial; the reference has %d", s.all[i%len(s.all)].q, res.Total, want[i%len(s.all)])
				}
			}
		})
		netCPU += cpuTime() - cpu
		wire += wireBytes(nd) - before
	}
	refChunk := func(first int) {
		cpu := cpuTime()
		refTime += runPool(first, oneIndexLabel, func(i int) {
			if _, err := query.Run(context.Background(), s.ref, query.Request{Q: s.all[i%len(s.all)].q, Limit: searchPage}); err != nil {
				b.Error(err)
			}
		})
		refCPU += cpuTime() - cpu
	}
	limited, served := s.servedOutcome(metrics.OutcomeRateLimited), s.servedOutcome(metrics.OutcomeOK)
	paced := metrics.Value(nd.Metrics(), metrics.RequestsPaced, "protocol", metrics.ProtocolSearch)
	borrowed := metrics.Value(nd.Metrics(), metrics.RequestsBorrowed, "protocol", metrics.ProtocolSearch, "outcome", metrics.OutcomeOK)
	for range b.N {
		for c := 0; c*searchLoadChunk < searchLoadQueries; c++ {
			if c%2 == 0 {
				netChunk(c * searchLoadChunk)
				refChunk(c * searchLoadChunk)
			} else {
				refChunk(c * searchLoadChunk)
				netChunk(c * searchLoadChunk)
			}
		}
	}
	b.StopTimer()
	byNode := stopProfile()
	p50, p99 := percentiles(lats)
	queries := float64(b.N * searchLoadQueries)
	b.ReportMetric(queries/netTime.Seconds(), "queries/s")
	b.ReportMetric(queries/refTime.Seconds(), "ref-queries/s")
	b.ReportMetric(refTime.Seconds()/netTime.Seconds(), "qps-x-ref")
	b.ReportMetric(ms(netCPU)/queries, "cpu-ms/query")
	b.ReportMetric(ms(refCPU)/queries, "ref-cpu-ms/query")
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(wire/queries, "wire-B/query")
	b.ReportMetric(float64(partial)/queries, "partial-share")
	b.ReportMetric(float64(failed)/queries, "failed-share")
	b.ReportMetric(float64(wrong)/queries, "wrong-total-share")
	b.ReportMetric(float64(nd.Net().Peers()), "peers-connected-after")
	b.ReportMetric(float64(len(nd.Net().Members())), "routing-table-after")
	b.ReportMetric(float64(settling)/queries, "settling-share")
	b.ReportMetric(idle, "idle-cores")
	b.ReportMetric((s.servedOutcome(metrics.OutcomeOK)-served)/queries, "served/query")
	b.ReportMetric((s.servedOutcome(metrics.OutcomeRateLimited)-limited)/queries, "rate-limited/query")
	b.ReportMetric((metrics.Value(nd.Metrics(), metrics.RequestsPaced, "protocol", metrics.ProtocolSearch)-paced)/queries, "paced/query")
	b.ReportMetric((metrics.Value(nd.Metrics(), metrics.RequestsBorrowed, "protocol", metrics.ProtocolSearch, "outcome", metrics.OutcomeOK)-borrowed)/queries, "borrowed/query")
	if ref := byNode[oneIndexLabel]; ref > 0 {
		// Both sides ran the same searches: the ratio of their CPU is
		// that of a search's. The querier's share is what one node whose
		// owners run on other machines spends; the owners' is what the
		// others spend for it here, on the same cores.
		var owners, all float64
		for node, sec := range byNode {
			all += sec
			if node != "0" && node != oneIndexLabel && node != "" {
				owners += sec
			}
		}
		b.ReportMetric(byNode["0"]/ref, "querier-cpu-x-ref")
		b.ReportMetric(owners/ref, "owners-cpu-x-ref")
		b.ReportMetric(byNode[""]/all, "unlabeled-cpu-share")
	}
}

// runPool runs fn(first) to fn(first+searchLoadChunk-1) on
// searchLoadWorkers goroutines and returns how long they took; every
// goroutine has ended when it returns. The goroutines, and those they
// start, carry the pprof label testnet.ProfileLabel=node in CPU profiles
// (node "" leaves them unlabeled).
func runPool(first int, node string, fn func(i int)) time.Duration {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range searchLoadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if node != "" {
				pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels(testnet.ProfileLabel, node)))
			}
			for {
				i := int(next.Add(1)) - 1
				if i >= searchLoadChunk {
					return
				}
				fn(first + i)
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// reportNet reports latency percentiles and means of the network samples.
func reportNet(b *testing.B, samples []netSample) {
	if len(samples) == 0 {
		return
	}
	lats := make([]time.Duration, len(samples))
	var rt, peers, shards, wire, total float64
	var cpu time.Duration
	partial, settling := 0, 0
	for i, x := range samples {
		lats[i] = x.took
		cpu += x.cpu
		if x.settling {
			settling++
		}
		rt += float64(x.roundTrips)
		peers += float64(x.peers)
		shards += float64(x.shards)
		wire += x.wire
		total += float64(x.total)
		if x.partial {
			partial++
		}
	}
	k := float64(len(samples))
	p50, p99 := percentiles(lats)
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(cpu)/k, "cpu-ms/query")
	b.ReportMetric(rt/k, "round-trips/query")
	b.ReportMetric(peers/k, "peers/query")
	b.ReportMetric(shards/k, "shards/query")
	b.ReportMetric(wire/k, "wire-B/query")
	b.ReportMetric(total/k, "matches/query")
	b.ReportMetric(float64(partial), "partial")
	b.ReportMetric(float64(settling)/k, "settling-share")
}

// percentiles returns the 50th and 99th percentiles (nearest rank) of ds.
func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return rank(0.50), rank(0.99)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkOwnerChecksNetwork measures what checking the owners costs on real
// networks of 8 and 16 nodes holding the benchmark's 2,000 fortunes: each
// warm first page sorted by score is run through the node's own
// coordinator (two owners per key, scores recomputed) and through one that
// trusts a single owner (netsearch.Config.TrustOwners), interleaved query
// by query in one run. It reports both p50s, their ratio, and the querying
// node's search and stats bytes per query for each.
func BenchmarkOwnerChecksNetwork(b *testing.B) {
	es := sample(b, searchNetPosts)
	mix := searchMix(b, es)
	for _, n := range []int{8, 16} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			s := startSearchNet(b, n, es, mix)
			trusting := make([]*netsearch.Coordinator, n)
			for i, nd := range s.net.Nodes {
				trusting[i] = netsearch.New(nd.Net(), netsearch.Config{TrustOwners: true})
				defer trusting[i].Close()
			}
			for _, kind := range searchKinds {
				b.Run(kind, func(b *testing.B) {
					var lat [2][]time.Duration
					var wire [2]float64
					runs := 0
					for range b.N {
						for _, q := range s.byKind[kind] {
							i := q.g % n
							nd := s.net.Nodes[i]
							searchers := [2]func(context.Context, query.Request) (*query.Result, error){trusting[i].Search, nd.Search}
							for _, search := range searchers { // warm both
								if _, err := search(context.Background(), query.Request{Q: q.q, Limit: searchPage}); err != nil {
									b.Fatal(err)
								}
							}
							for range searchWarmReps {
								for m, search := range searchers {
									before := wireBytes(nd)
									start := time.Now()
									if _, err := search(context.Background(), query.Request{Q: q.q, Limit: searchPage}); err != nil {
										b.Fatal(err)
									}
									lat[m] = append(lat[m], time.Since(start))
									wire[m] += wireBytes(nd) - before
								}
								runs++
							}
						}
					}
					for m := range lat {
						slices.Sort(lat[m])
					}
					p50 := func(m int) time.Duration { return lat[m][len(lat[m])/2] }
					b.ReportMetric(float64(p50(0).Microseconds()), "trusting-p50-µs")
					b.ReportMetric(float64(p50(1).Microseconds()), "checked-p50-µs")
					b.ReportMetric(float64(p50(1))/float64(p50(0)), "p50-ratio")
					b.ReportMetric(wire[0]/float64(runs), "trusting-wire-B/query")
					b.ReportMetric(wire[1]/float64(runs), "checked-wire-B/query")
				})
			}
		})
	}
}
