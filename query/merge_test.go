package query_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
)

// TestMergePagesEveryHitOnce drives Merge the way a network search does:
// disjoint shards answer a page from the cursor with a few hits each, the
// shards Merge calls incomplete are asked again from their last hit, and
// the next page starts after the page's last hit. Over many random shapes,
// walking every page must give every hit exactly once, in order, with full
// pages before the last.
func TestMergePagesEveryHitOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for trial := 0; trial < 2000; trial++ {
		shards := 1 + rng.IntN(16)
		limit := 1 + rng.IntN(30)
		ask := 1 + rng.IntN(limit+1) // hits a shard sends per request
		sort := []query.Sort{query.SortTop, query.SortLatest}[rng.IntN(2)]
		// Hits with equal scores (the filter-only case) or a few distinct
		// ones, dealt to the shards.
		var all []query.Hit
		for i := 0; i < rng.IntN(200); i++ {
			h := query.Hit{Post: &post.Post{ID: fmt.Sprintf("%08x", rng.Uint32())}, Score: float64(rng.IntN(3))}
			h.Sort = []string{fmt.Sprint(h.Score), h.Post.ID}
			all = append(all, h)
		}
		held := make([][]query.Hit, shards)
		for _, h := range all {
			i := rng.IntN(shards)
			held[i] = append(held[i], h)
		}
		less := func(a, b query.Hit) int {
			switch {
			case query.Less(sort, &a, &b):
				return -1
			case query.Less(sort, &b, &a):
				return 1
			}
			return 0
		}
		for _, hs := range held {
			slices.SortFunc(hs, less)
		}
		slices.SortFunc(all, less)
		all = slices.CompactFunc(all, func(a, b query.Hit) bool { return a.Post.ID == b.Post.ID })

		p, err := query.Prepare(query.Request{Q: "x", Sort: sort, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		from := func(shard int, after *query.Hit) (hits []query.Hit, more bool, last *query.Hit) {
			for _, h := range held[shard] {
				if after != nil && !query.Less(sort, after, &h) {
					continue
				}
				hits = append(hits, h)
				if len(hits) == ask {
					break
				}
			}
			if len(hits) > 0 {
				last = &hits[len(hits)-1]
			}
			return hits, len(hits) == ask, last
		}
		var got []query.Hit
		var after *query.Hit
		for page := 0; ; page++ {
			if page > len(all)+1 {
				t.Fatalf("trial %d: more pages than hits", trial)
			}
			answers := make([]*query.ShardAnswer, shards)
			for i := range answers {
				hits, more, last := from(i, after)
				answers[i] = &query.ShardAnswer{Hits: hits, More: more, Last: last}
			}
			res, complete := p.Merge(answers, nil)
			for round := 0; slices.Contains(complete, false); round++ {
				if round > len(all)+1 {
					t.Fatalf("trial %d: refills never end", trial)
				}
				for i, ok := range complete {
					if ok {
						continue
					}
					a := answers[i]
					hits, more, last := from(i, a.Last)
					a.Hits, a.More = append(a.Hits, hits...), more
					if last != nil {
						a.Last = last
					}
				}
				res, complete = p.Merge(answers, nil)
			}
			got = append(got, res.Hits...)
			if res.NextCursor == "" {
				break
			}
			if len(res.Hits) != limit {
				t.Fatalf("trial %d: page %d has %d hits of %d and a next page", trial, page, len(res.Hits), limit)
			}
			after = &res.Hits[len(res.Hits)-1]
		}
		ids := func(hs []query.Hit) []string {
			out := make([]string, len(hs))
			for i, h := range hs {
				out[i] = h.Post.ID
			}
			return out
		}
		if !slices.Equal(ids(got), ids(all)) {
			t.Fatalf("trial %d (%d shards, pages of %d, %d hits a request, %s): paged %d hits, want %d",
				trial, shards, limit, ask, sort, len(got), len(all))
		}
	}
}
