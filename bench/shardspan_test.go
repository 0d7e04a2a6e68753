package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// BenchmarkShardSpan measures an owner's answer (netsearch.Answer) for a
// span of m of an author's 16 shards (every post here is the one
// author's), a first page of 10 of a stop word's matches sorted by score,
// on an index of queryPosts posts: what a querier that owns m shards asks
// of itself in one request, and an owner of m of them is asked. Each
// operation answers one span, of the stop words in turn. Up to protocol 3
// the stop words were split 16 ways themselves, and this asked their own
// shards; the figures in docs/benchmarks.md before it are of that.
func BenchmarkShardSpan(b *testing.B) {
	posts := signed(b, sample(b, queryPosts))
	ix := murmurIndex(b, posts)
	ctx := context.Background()
	words := []string{"the", "and", "of", "to", "is"}
	for _, m := range []int{2, 8, 14, 16} {
		b.Run(fmt.Sprintf("shards=%d", m), func(b *testing.B) {
			reqs := make([]*netsearch.Request, len(words))
			author := posts[0].Author
			keys := keyspace.AuthorKeys(author)
			for i, w := range words {
				reqs[i] = &netsearch.Request{Query: "from:" + author + " " + w, Sort: "top", Size: 11, Keys: keys, Span: m}
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
