//go:build unix

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/internal/corpus"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/query"
	"github.com/murmur-p2p/murmur/testnet"
)

// Sizes of the split term benchmark.
const (
	// splitTermPosts posts hold the split term, one every splitTermEvery
	// (a year), beside splitTermOthers that do not.
	splitTermPosts  = 480
	splitTermEvery  = 18 * time.Hour
	splitTermOthers = 240
	// splitTermAt is the nodes' SplitAt: about a month of the term's posts.
	splitTermAt = 40
	// splitTermReps is how often each query is measured, after one run
	// that learns the record and fills the caches.
	splitTermReps = 3
)

// BenchmarkSplitTerm measures what time that routes saves on real nodes
// (#19 item 4): 8 nodes hold a year of a term's posts, whole (SplitAt
// negative) or split by its owners into a key a month and further by the
// post ID (SplitAt 40). From a node that owns none of the term, it runs a
// first page of 10 by date, one by score, and two dated queries, and
// reports for each the keys asked and the bytes the querier sent and got
// on the search and stats protocols; the totals are checked against one
// index over the same posts.
//
//	go test -run '^$' -bench SplitTerm -benchtime 1x ./bench
func BenchmarkSplitTerm(b *testing.B) {
	for _, split := range []bool{false, true} {
		name := map[bool]string{false: "whole", true: "split"}[split]
		b.Run(name, func(b *testing.B) { splitTermRun(b, split) })
	}
}

func splitTermRun(b *testing.B, split bool) {
	es, err := corpus.Load()
	if err != nil {
		b.Skip(err)
	}
	if len(es) < splitTermPosts+splitTermOthers {
		b.Skipf("the corpus holds %d texts; the benchmark wants %d", len(es), splitTermPosts+splitTermOthers)
	}
	const term = "heron"
	splitAt := -1
	if split {
		splitAt = splitTermAt
	}
	net := testnet.Start(b, 8, testnet.Options{SettleMargin: searchSettleMargin, KeySettleFor: searchSettleMargin, KeySeed: 1, SplitAt: splitAt, RepairInterval: 2 * time.Second})
	now := time.Now().UTC()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i, e := range es[:splitTermPosts+splitTermOthers] {
		line := api.ImportLine{Text: e.Text, Lang: e.Lang, Author: "fortune-" + e.Lang, CreatedAt: now.Add(-time.Duration(i%splitTermPosts) * splitTermEvery).Format(time.RFC3339)}
		if i < splitTermPosts {
			line.Text = term + " " + e.Text
		}
		if err := enc.Encode(line); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	if res, err := net.Nodes[0].Import(ctx, &buf, api.ImportOptions{}, nil); err != nil || res.Accepted != splitTermPosts+splitTermOthers {
		b.Fatalf("import: %+v, %v", res, err)
	}
	root := keyspace.TermKey(term)
	owners, err := net.Nodes[0].Net().Owners(ctx, root)
	if err != nil {
		b.Fatal(err)
	}
	var querier *testnet.Member
	for _, nd := range net.Nodes {
		if !slices.Contains(owners, nd.Net().ID()) {
			querier = nd
		}
	}
	if split {
		start := time.Now()
		for !splitSettled(net, owners, root) {
			if time.Since(start) > 5*time.Minute {
				b.Fatal("the term's owners did not split it and settle in 5 minutes")
			}
			time.Sleep(time.Second)
		}
		rec, _ := net.Nodes[0].Net().SplitRecord(root)
		for _, nd := range net.Nodes {
			if r, ok := nd.Net().SplitRecord(root); ok && slices.Contains(owners, nd.Net().ID()) {
				rec = r
			}
		}
		b.Logf("split and settled in %v: %d buckets, %d leaves", time.Since(start).Round(time.Second), len(rec.Buckets), len(rec.Leaves(keyspace.RootNode(keyspace.ClassTerm, term), time.Time{}, time.Time{})))
	}
	ref := testnet.ReferenceIndex(b, net.Posts())
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	queries := []struct {
		name string
		req  query.Request
	}{
		{"latest", query.Request{Q: term, Sort: query.SortLatest, Limit: 10}},
		{"top", query.Request{Q: term, Limit: 10}},
		{"since-month", query.Request{Q: term + " since:" + month.Format("2006-01-02"), Limit: 10}},
		{"quarter", query.Request{Q: fmt.Sprintf("%s since:%s until:%s", term, month.AddDate(0, -6, 0).Format("2006-01-02"), month.AddDate(0, -3, 0).Format("2006-01-02")), Limit: 10}},
	}
	for range b.N {
		for _, q := range queries {
			if _, err := querier.Search(ctx, q.req); err != nil { // learns the record, fills the caches
				b.Fatal(err)
			}
			want, err := query.Run(ctx, ref, q.req)
			if err != nil {
				b.Fatal(err)
			}
			var wire float64
			var keys int
			for range splitTermReps {
				before := wireBytes(querier)
				res, err := querier.Search(ctx, q.req)
				if err != nil {
					b.Fatal(err)
				}
				wire += wireBytes(querier) - before
				keys += res.Shards.Asked
				if res.Total != want.Total || res.Partial {
					b.Errorf("%s: total %d (partial %v), one index %d", q.name, res.Total, res.Partial, want.Total)
				}
			}
			b.ReportMetric(wire/splitTermReps, q.name+"-bytes/op")
			b.ReportMetric(float64(keys)/splitTermReps, q.name+"-keys/op")
		}
	}
}

// splitSettled reports whether every owner of root keeps its split
// record with no hand-off under way.
func splitSettled(net *testnet.Net, owners []peer.ID, root string) bool {
	for _, nd := range net.Nodes {
		if !slices.Contains(owners, nd.Net().ID()) {
			continue
		}
		rec, ok := nd.Net().SplitRecord(root)
		if !ok || rec.Residual > 0 || slices.ContainsFunc(rec.Buckets, func(b keyspace.Bucket) bool { return b.Moving }) {
			return false
		}
	}
	return true
}
