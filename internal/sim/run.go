package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// KindReport is what one kind of query cost and found.
type KindReport struct {
	Queries int `json:"queries"`
	// Recall is the share of the one index's first-page hits that the
	// network's first page held, over the kind's queries.
	Recall           float64 `json:"recall"`
	MessagesPerQuery float64 `json:"messages_per_query"`
	BytesPerQuery    float64 `json:"bytes_per_query"`
	LookupsPerQuery  float64 `json:"lookups_per_query"`
	// RoundTripsPerQuery counts the rounds of requests a warm search took
	// (a refill is one more).
	RoundTripsPerQuery float64 `json:"round_trips_per_query"`
	// BytesByMessage splits BytesPerQuery by type of message (Message*).
	BytesByMessage map[string]float64 `json:"bytes_by_message"`
	// LatencyP50Ms and LatencyP99Ms are the warm searches' wall-clock
	// times: over Network.Links when they delay, the CPU's alone when not.
	LatencyP50Ms float64 `json:"latency_p50_ms"`
	LatencyP99Ms float64 `json:"latency_p99_ms"`
	latencies    []time.Duration
}

// Report is a simulation's outcome. Per-query figures are of warm
// searches (each query run once before on the same node); Cold* are of the
// first run, which also gathers the network's totals.
type Report struct {
	// Engine is what ran the nodes: "model" (this package's nodes, placed
	// as settled) or "p2p" (real nodes over a simulated network, package
	// internal/simnet).
	Engine  string `json:"engine"`
	Nodes   int    `json:"nodes"`
	Posts   int    `json:"posts"`
	Queries int    `json:"queries"`
	// Recall: as KindReport's, over every query.
	Recall float64 `json:"recall"`
	// ExactTotals is the share of queries whose match count was the one
	// index's.
	ExactTotals float64 `json:"exact_totals"`
	// PartialShare is the share of queries whose answer said partial (an
	// owner of some key failed, or none of its prior owners answered);
	// ShortWithoutPartial counts the queries that matched fewer posts
	// than the one index and did not say partial: answers that passed
	// as complete and were not.
	PartialShare        float64 `json:"partial_share"`
	ShortWithoutPartial int     `json:"short_without_partial"`
	MessagesPerQuery    float64 `json:"messages_per_query"`
	BytesPerQuery       float64 `json:"bytes_per_query"`
	// LookupsPerQuery counts the owner lookups a search asked of its
	// transport (keys whose owners it needed). p2p answers most from its
	// cache of routing-table regions; the simulation does not model DHT
	// lookups.
	LookupsPerQuery    float64 `json:"lookups_per_query"`
	RoundTripsPerQuery float64 `json:"round_trips_per_query"`
	// BytesByMessage splits BytesPerQuery by type of message (Message*).
	BytesByMessage map[string]float64 `json:"bytes_by_message"`
	// LatencyP50Ms and LatencyP99Ms: as KindReport's, over every query.
	LatencyP50Ms         float64 `json:"latency_p50_ms"`
	LatencyP99Ms         float64 `json:"latency_p99_ms"`
	ColdMessagesPerQuery float64 `json:"cold_messages_per_query"`
	ColdBytesPerQuery    float64 `json:"cold_bytes_per_query"`
	// PlacementCopiesPerPost is how many nodes hold each post;
	// PlacementBytesPerPost the bytes of storing each copy once (the post
	// as signed, without the store protocol's framing or repair).
	PlacementCopiesPerPost float64 `json:"placement_copies_per_post"`
	PlacementBytesPerPost  float64 `json:"placement_bytes_per_post"`
	// PlacementMessagesPerPost and PlacementLookupsPerPost are the store
	// protocol's messages and the DHT lookups for owners per post written
	// (real nodes, package internal/simnet, alone: the model places
	// without messages).
	PlacementMessagesPerPost float64 `json:"placement_messages_per_post,omitempty"`
	PlacementLookupsPerPost  float64 `json:"placement_lookups_per_post,omitempty"`
	// SplitTerms is how many terms are split (Options.SplitAt), into
	// SplitLeaves leaves in all.
	SplitTerms  int `json:"split_terms"`
	SplitLeaves int `json:"split_leaves"`
	// HeapBytesPerNode is the process's live heap after the searches,
	// over the nodes (indexes, holdings, caches; the one index and the
	// posts included).
	HeapBytesPerNode float64                `json:"heap_bytes_per_node"`
	PerKind          map[string]*KindReport `json:"per_kind"`
	// SettleGatherings is how many times each querier gathered the
	// network's totals before its first search, so that it has heard from
	// every node as one that has run ceil((N-1)/MaxSummaryPeers) times
	// SummaryTTL has; SettleMessagesPerQuerier is what that cost.
	SettleGatherings         int     `json:"settle_gatherings"`
	SettleMessagesPerQuerier float64 `json:"settle_messages_per_querier"`
	// TotalsHeard is the share of the nodes whose figures the queriers'
	// totals combined, the mean over queriers (1: exact totals).
	TotalsHeard float64 `json:"totals_heard"`
	// StatsError is how far the queriers' network statistics (posts and
	// distinct terms, which BM25 scores with) were from the one index's
	// after settling: the mean over queriers of the larger relative error
	// of the two (0: the network scores as the one index does).
	StatsError float64 `json:"stats_error"`
	// SurveyLookupsPerQuerier is the DHT lookups with which a querier
	// found the servers beyond its routing table, so as to hear them all:
	// its murmur_survey_lookups_total once settled, every survey it ran
	// by then (real nodes alone; the model's queriers know every node).
	SurveyLookupsPerQuerier float64 `json:"survey_lookups_per_querier,omitempty"`
	// Churn is what churn did, when the network churned (StartChurn).
	Churn         *ChurnReport `json:"churn,omitempty"`
	SetupSeconds  float64      `json:"setup_seconds"`
	SearchSeconds float64      `json:"search_seconds"`
}

// countingTransport counts a coordinator's owner lookups.
type countingTransport struct {
	netsearch.Transport
	lookups *atomic.Int64
}

func (t countingTransport) Owners(ctx context.Context, key string) ([]peer.ID, error) {
	t.lookups.Add(1)
	return t.Transport.Owners(ctx, key)
}

// KnownOwners passes on what the simulated node knows without a lookup
// (netsearch.KnownOwners), which counts as none.
func (t countingTransport) KnownOwners(key string) ([]peer.ID, bool) {
	if k, ok := t.Transport.(netsearch.KnownOwners); ok {
		return k.KnownOwners(key)
	}
	return nil, false
}

// Search runs each query twice, cold then warm, on node i mod N for the
// i-th query, each node first settled (see Report.SettleGatherings), with
// a first page of limit hits, and compares each warm page with the one
// index ref over the same posts. progress, if set, is called after each
// query.
func (net *Network) Search(ctx context.Context, ref *index.Index, qs []Query, limit int, progress func(done, total int)) (*Report, error) {
	return net.SearchAt(ctx, ref, qs, func(i int) int { return i }, limit, progress)
}

// SearchAt is Search with the i-th query run on node at(i) mod N.
func (net *Network) SearchAt(ctx context.Context, ref *index.Index, qs []Query, at func(i int) int, limit int, progress func(done, total int)) (*Report, error) {
	start := time.Now()
	rep := &Report{Engine: "model", Nodes: len(net.nodes), Queries: len(qs), PerKind: map[string]*KindReport{}}
	var lookups atomic.Int64
	coords := map[*Node]*netsearch.Coordinator{}
	defer func() {
		for _, c := range coords {
			c.Close()
		}
	}()
	var rounds int
	var tally Correctness
	var coldMsgs, coldBytes, msgs, bytes, looks, settleMsgs int64
	var heard, statsErr float64
	var all []time.Duration // warm searches' times
	// The queriers' clocks stand still for the run, so that no cache of
	// theirs (key counts, totals) expires and refreshes in the background
	// between the searches measured: a run over delayed links lasts
	// minutes. They stand just after the newest post, as a live network's
	// would: a split term's planner asks every month from its record's
	// last through now (keyspace.Split.Through), which the root's owners
	// would have listed as they came.
	cfg := net.Coordinator
	if cfg.Now == nil {
		frozen := time.Now()
		if !net.newest.IsZero() {
			frozen = net.newest.Add(time.Minute)
		}
		cfg.Now = func() time.Time { return frozen }
	}
	rep.SettleGatherings = SettleGatherings(len(net.nodes))
	settling := 0
	for i, q := range qs {
		if net.churn != nil {
			m := net.churn.model
			if err := net.AdvanceTo(ctx, m.Warmup+time.Duration(float64(m.Window)*float64(i)/float64(len(qs)))); err != nil {
				return nil, fmt.Errorf("churn before query %d: %w", i, err)
			}
		}
		nodes := net.Nodes()
		nd := nodes[at(i)%len(nodes)]
		if net.settling() {
			settling++
		}
		c := coords[nd]
		if c == nil {
			c = netsearch.New(countingTransport{net.Transport(nd.ID), &lookups}, cfg)
			coords[nd] = c
			m0, _ := net.Traffic()
			var t netsearch.NetworkTotals
			for range rep.SettleGatherings {
				t = c.Refresh(ctx)
			}
			m1, _ := net.Traffic()
			settleMsgs += m1 - m0
			heard += float64(t.Heard) / float64(len(nodes))
			e, err := StatsError(t, ref)
			if err != nil {
				return nil, err
			}
			statsErr += e
		}
		req := query.Request{Q: q.Q, Limit: limit}
		m0, b0 := net.Traffic()
		if _, err := c.Search(ctx, req); err != nil {
			return nil, fmt.Errorf("query %q (cold): %w", q.Q, err)
		}
		m1, b1 := net.Traffic()
		t1 := net.TrafficByType()
		l1 := lookups.Load()
		began := time.Now()
		res, err := c.Search(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("query %q: %w", q.Q, err)
		}
		took := time.Since(began)
		all = append(all, took)
		m2, b2 := net.Traffic()
		t2 := net.TrafficByType()
		want, err := query.Run(ctx, ref, req)
		if err != nil {
			return nil, fmt.Errorf("query %q on the one index: %w", q.Q, err)
		}
		tally.Add(q.Kind, res, want)
		rounds += res.RoundTrips
		coldMsgs, coldBytes = coldMsgs+m1-m0, coldBytes+b1-b0
		msgs, bytes = msgs+m2-m1, bytes+b2-b1
		l := lookups.Load() - l1
		looks += l
		k := rep.PerKind[q.Kind]
		if k == nil {
			k = &KindReport{}
			rep.PerKind[q.Kind] = k
		}
		k.Queries++
		k.MessagesPerQuery += float64(m2 - m1)
		k.BytesPerQuery += float64(b2 - b1)
		k.LookupsPerQuery += float64(l)
		k.RoundTripsPerQuery += float64(res.RoundTrips)
		k.latencies = append(k.latencies, took)
		if k.BytesByMessage == nil {
			k.BytesByMessage = map[string]float64{}
		}
		for typ, b := range t2 {
			if d := b - t1[typ]; d > 0 {
				k.BytesByMessage[typ] += float64(d)
			}
		}
		if progress != nil {
			progress(i+1, len(qs))
		}
	}
	n := float64(max(1, len(qs)))
	rep.SettleMessagesPerQuerier = float64(settleMsgs) / float64(max(1, len(coords)))
	if rep.Churn = net.churnReport(); rep.Churn != nil {
		rep.Churn.SettlingShare = float64(settling) / n
	}
	rep.TotalsHeard = heard / float64(max(1, len(coords)))
	rep.StatsError = statsErr / float64(max(1, len(coords)))
	rep.MessagesPerQuery, rep.BytesPerQuery = float64(msgs)/n, float64(bytes)/n
	rep.LookupsPerQuery = float64(looks) / n
	rep.RoundTripsPerQuery = float64(rounds) / n
	rep.ColdMessagesPerQuery, rep.ColdBytesPerQuery = float64(coldMsgs)/n, float64(coldBytes)/n
	rep.LatencyP50Ms, rep.LatencyP99Ms = PercentileMs(all, 0.50), PercentileMs(all, 0.99)
	rep.BytesByMessage = map[string]float64{}
	for _, k := range rep.PerKind {
		for typ, b := range k.BytesByMessage {
			rep.BytesByMessage[typ] += b / n
		}
	}
	tally.Fill(rep, n)
	for _, k := range rep.PerKind {
		q := float64(k.Queries)
		k.MessagesPerQuery /= q
		k.BytesPerQuery /= q
		k.LookupsPerQuery /= q
		k.RoundTripsPerQuery /= q
		k.LatencyP50Ms, k.LatencyP99Ms = PercentileMs(k.latencies, 0.50), PercentileMs(k.latencies, 0.99)
		for typ := range k.BytesByMessage {
			k.BytesByMessage[typ] /= q
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.HeapBytesPerNode = float64(ms.HeapInuse) / float64(len(net.nodes))
	rep.SearchSeconds = time.Since(start).Seconds()
	return rep, nil
}

// PlacementOf fills the report's placement figures for posts.
func (net *Network) PlacementOf(rep *Report, posts []*post.Post) {
	rep.Posts = len(posts)
	if len(posts) == 0 {
		return
	}
	var size int
	for _, p := range posts {
		b, _ := json.Marshal(p)
		size += len(b)
	}
	copies := float64(net.Copies()) / float64(len(posts))
	rep.PlacementCopiesPerPost = copies
	rep.PlacementBytesPerPost = copies * float64(size) / float64(len(posts))
	rep.SplitTerms, rep.SplitLeaves = len(net.splits), 0
	for root, sp := range net.splits {
		if k, err := keyspace.Parse(root); err == nil {
			if n, ok := k.Node(); ok {
				rep.SplitLeaves += len(sp.Leaves(n, time.Time{}, time.Time{}))
			}
		}
	}
}

// PercentileMs is the q-th quantile of ds (nearest rank) in milliseconds;
// 0 for none.
func PercentileMs(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(len(s)-1, int(math.Ceil(q*float64(len(s))))-1)
	return float64(s[max(i, 0)]) / float64(time.Millisecond)
}

// Ratio is a/b, and 1 when b is 0 (nothing to find, all found).
func Ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// SettleGatherings is how many times a querier of an n-node network
// gathers the network's totals before its first search, so that it has
// heard from every node as one that has run ceil((n-1)/MaxSummaryPeers)
// times SummaryTTL has (Report.SettleGatherings).
func SettleGatherings(n int) int {
	return (n - 2 + netsearch.MaxSummaryPeers) / netsearch.MaxSummaryPeers
}

// StatsError is the larger relative error of t's posts and terms against
// the one index ref's.
func StatsError(t netsearch.NetworkTotals, ref *index.Index) (float64, error) {
	docs, err := ref.DocCount()
	if err != nil {
		return 0, fmt.Errorf("the one index's posts: %w", err)
	}
	terms, err := ref.TextTerms()
	if err != nil {
		return 0, fmt.Errorf("the one index's terms: %w", err)
	}
	rel := func(got, want uint64) float64 {
		if want == 0 {
			return 0
		}
		return math.Abs(float64(got)-float64(want)) / float64(want)
	}
	return max(rel(t.Posts, docs), rel(t.Terms, terms)), nil
}

// Correctness tallies, query by query, how the network's answers compare
// with the one index's; both engines report through it. The zero value is
// ready to use.
type Correctness struct {
	found, wanted, exact, partial, short int
	kindFound, kindWanted                map[string]int
}

// Add counts one query of kind: got is the network's answer, want the one
// index's.
func (c *Correctness) Add(kind string, got, want *query.Result) {
	if c.kindFound == nil {
		c.kindFound, c.kindWanted = map[string]int{}, map[string]int{}
	}
	f, same := Compare(got, want)
	c.found, c.wanted = c.found+f, c.wanted+len(want.Hits)
	c.kindFound[kind] += f
	c.kindWanted[kind] += len(want.Hits)
	if got.Partial {
		c.partial++
	} else if got.Total < want.Total {
		c.short++
	}
	if same {
		c.exact++
	}
}

// Fill sets rep's recall, exact totals and partial share over n queries,
// its count of short answers that did not say partial, and the recall of
// each kind rep.PerKind holds.
func (c *Correctness) Fill(rep *Report, n float64) {
	rep.Recall = Ratio(c.found, c.wanted)
	rep.ExactTotals = float64(c.exact) / n
	rep.PartialShare = float64(c.partial) / n
	rep.ShortWithoutPartial = c.short
	for kind, k := range rep.PerKind {
		k.Recall = Ratio(c.kindFound[kind], c.kindWanted[kind])
	}
}

// Compare counts the hits of want (the one index's first page) that got
// (the network's) holds, and reports whether their totals are the same.
func Compare(got, want *query.Result) (found int, sameTotal bool) {
	ids := make(map[string]bool, len(got.Hits))
	for _, h := range got.Hits {
		ids[h.Post.ID] = true
	}
	for _, h := range want.Hits {
		if ids[h.Post.ID] {
			found++
		}
	}
	return found, got.Total == want.Total
}

// Kinds of a report, in order, for printing.
func (r *Report) KindsInOrder() []string {
	var out []string
	for _, k := range Kinds {
		if r.PerKind[k] != nil {
			out = append(out, k)
		}
	}
	rest := []string{}
	for k := range r.PerKind {
		if !slices.Contains(out, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}
