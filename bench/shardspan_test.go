package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// BenchmarkShardSpan measures an owner's answer (netsearch.Answer) for a
// span of m of a stop word's 16 shards, a first page of 10 sorted by
// score, on an index of queryPosts posts: what a querier that owns m
// shards asks of itself in one request, and an owner of m of them is
// asked. Each operation answers one span, of the stop words in turn.
func BenchmarkShardSpan(b *testing.B) {
	posts := signed(b, sample(b, queryPosts))
	ix := murmurIndex(b, posts)
	ctx := context.Background()
	words := []string{"the", "and", "of", "to", "is"}
	for _, m := range []int{2, 8, 14, 16} {
		b.Run(fmt.Sprintf("shards=%d", m), func(b *testing.B) {
			reqs := make([]*netsearch.Request, len(words))
			for i, w := range words {
				keys := keyspace.TermKeys(w)
				if len(keys) != keyspace.HotShards {
					b.Fatalf("%q has %d keys", w, len(keys))
				}
				reqs[i] = &netsearch.Request{Query: w, Sort: "top", Size: 11, Keys: keys, Span: m}
			}
			hits := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				resp, err := netsearch.Answer(ctx, ix, reqs[i%len(reqs)])
				if err != nil {
					b.Fatal(err)
				}
				hits += len(resp.Hits)
			}
			b.ReportMetric(float64(hits)/float64(b.N), "hits/op")
		})
	}
}
