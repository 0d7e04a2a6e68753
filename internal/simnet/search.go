package simnet

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/sim"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// searchProtocols are the protocols a search's messages travel on.
var searchProtocols = []string{metrics.ProtocolSearch, metrics.ProtocolStats}

// Search runs each query twice on a node alive (the i-th query on the
// (i mod N)-th), cold then warm, through the node's own search
// (node.Search), and compares each warm first page of limit hits with the
// one index ref over the same posts. Before a node's first search it
// gathers the network's totals as often as package sim's queriers do, so
// that it has heard from every node. Messages and bytes are those of the
// search and stats protocols that every node sent while the search ran
// (searches run one at a time; a node's own background gathering of
// totals in that time counts too). progress, if set, is called after
// each query.
func (net *Network) Search(ctx context.Context, ref *index.Index, qs []sim.Query, limit int, progress func(done, total int)) (*sim.Report, error) {
	return net.SearchOver(ctx, ref, qs, limit, 0, progress)
}

// SearchOver is Search with the queries spread over a span of real time:
// the i-th starts no sooner than i/len(qs) of over after the first, as
// searches come while a network churns. The report's Churn, when over is
// set, tells the share of searches whose querier counted itself as
// settling (p2p.Service.Settling) when it searched.
func (net *Network) SearchOver(ctx context.Context, ref *index.Index, qs []sim.Query, limit int, over time.Duration, progress func(done, total int)) (*sim.Report, error) {
	start := time.Now()
	alive := net.Alive()
	if len(alive) == 0 {
		return nil, fmt.Errorf("no node alive")
	}
	rep := &sim.Report{Engine: "p2p", Nodes: len(alive), Queries: len(qs), PerKind: map[string]*sim.KindReport{}}
	rep.SettleGatherings = sim.SettleGatherings(len(alive))
	settled := map[*Member]bool{}
	var rounds, crashed, settling int
	var tally sim.Correctness
	var cold, warm Counts
	var settleMsgs, heard, statsErr, surveyLookups float64
	var all []time.Duration
	kindTimes := map[string][]time.Duration{}
	for i, q := range qs {
		if over > 0 {
			at := start.Add(time.Duration(float64(over) * float64(i) / float64(len(qs))))
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Until(at)):
			}
		}
		// Under churn the nodes alive change between queries.
		if alive = net.Alive(); len(alive) == 0 {
			return nil, fmt.Errorf("no node alive at query %d", i)
		}
		m := alive[i%len(alive)]
		if !settled[m] {
			settled[m] = true
			before := net.Traffic()
			var t netsearch.NetworkTotals
			for range rep.SettleGatherings {
				t = m.Searches().Refresh(ctx)
			}
			msgs, _ := net.Traffic().Minus(before).Sum(searchProtocols...)
			settleMsgs += msgs
			heard += float64(t.Heard) / float64(len(alive))
			e, err := sim.StatsError(t, ref)
			if err != nil {
				return nil, err
			}
			statsErr += e
			surveyLookups += m.Net().SurveyLookups()
		}
		if m.Net().Settling() {
			settling++
		}
		req := query.Request{Q: q.Q, Limit: limit}
		t0 := net.Traffic()
		if _, err := m.Search(ctx, req); err != nil && m.Alive() {
			return nil, fmt.Errorf("query %q at node %d (cold): %w", q.Q, m.Index, err)
		}
		t1 := net.Traffic()
		began := time.Now()
		res, err := m.Search(ctx, req)
		if err != nil && !m.Alive() {
			// The querier crashed under it: that is churn, not the search.
			res, err = &query.Result{}, nil
			crashed++
		}
		if err != nil {
			return nil, fmt.Errorf("query %q at node %d: %w", q.Q, m.Index, err)
		}
		took := time.Since(began)
		t2 := net.Traffic()
		want, err := query.Run(ctx, ref, req)
		if err != nil {
			return nil, fmt.Errorf("query %q on the one index: %w", q.Q, err)
		}
		tally.Add(q.Kind, res, want)
		rounds += res.RoundTrips
		cold.add(t1.Minus(t0))
		w := t2.Minus(t1)
		warm.add(w)
		all = append(all, took)
		k := rep.PerKind[q.Kind]
		if k == nil {
			k = &sim.KindReport{}
			rep.PerKind[q.Kind] = k
		}
		k.Queries++
		msgs, bytes := w.Sum(searchProtocols...)
		k.MessagesPerQuery += msgs
		k.BytesPerQuery += bytes
		k.LookupsPerQuery += w.Lookups
		k.RoundTripsPerQuery += float64(res.RoundTrips)
		kindTimes[q.Kind] = append(kindTimes[q.Kind], took)
		if progress != nil {
			progress(i+1, len(qs))
		}
	}
	n := float64(max(1, len(qs)))
	rep.SettleMessagesPerQuerier = settleMsgs / float64(max(1, len(settled)))
	rep.TotalsHeard = heard / float64(max(1, len(settled)))
	rep.StatsError = statsErr / float64(max(1, len(settled)))
	rep.SurveyLookupsPerQuerier = surveyLookups / float64(max(1, len(settled)))
	msgs, bytes := warm.Sum(searchProtocols...)
	rep.MessagesPerQuery, rep.BytesPerQuery = msgs/n, bytes/n
	rep.LookupsPerQuery = warm.Lookups / n
	rep.RoundTripsPerQuery = float64(rounds) / n
	msgs, bytes = cold.Sum(searchProtocols...)
	rep.ColdMessagesPerQuery, rep.ColdBytesPerQuery = msgs/n, bytes/n
	rep.LatencyP50Ms, rep.LatencyP99Ms = sim.PercentileMs(all, 0.50), sim.PercentileMs(all, 0.99)
	tally.Fill(rep, n)
	for kind, k := range rep.PerKind {
		q := float64(k.Queries)
		k.MessagesPerQuery /= q
		k.BytesPerQuery /= q
		k.LookupsPerQuery /= q
		k.RoundTripsPerQuery /= q
		k.LatencyP50Ms, k.LatencyP99Ms = sim.PercentileMs(kindTimes[kind], 0.50), sim.PercentileMs(kindTimes[kind], 0.99)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.HeapBytesPerNode = float64(ms.HeapInuse) / float64(len(alive))
	rep.SearchSeconds = time.Since(start).Seconds()
	if crashed > 0 || over > 0 {
		rep.Churn = &sim.ChurnReport{QueriersCrashed: crashed, SettlingShare: float64(settling) / n}
	}
	return rep, nil
}

// Placement fills the report's placement figures: the copies of each post
// the nodes alive hold, and the messages and bytes the nodes sent on the
// store protocol per post while placed (written, the stores' answers and
// repair's hand-offs on it included) and their DHT lookups for owners,
// given the traffic before and after the posts were written.
func (net *Network) Placement(ctx context.Context, rep *sim.Report, posts []*post.Post, before, after Counts) error {
	rep.Posts = len(posts)
	if len(posts) == 0 {
		return nil
	}
	var copies uint64
	for _, m := range net.Alive() {
		st, err := m.Status(ctx)
		if err != nil {
			return fmt.Errorf("status of node %d: %w", m.Index, err)
		}
		copies += st.Posts
	}
	rep.PlacementCopiesPerPost = float64(copies) / float64(len(posts))
	d := after.Minus(before)
	msgs, bytes := d.Sum(metrics.ProtocolStore)
	rep.PlacementBytesPerPost = bytes / float64(len(posts))
	rep.PlacementMessagesPerPost = msgs / float64(len(posts))
	rep.PlacementLookupsPerPost = d.Lookups / float64(len(posts))
	return nil
}
