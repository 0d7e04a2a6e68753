package bench

import (
	"context"
	"testing"

	"github.com/murmur-p2p/murmur/keyspace"
)

// BenchmarkPostingList measures index.IDsWithTerm, the posting list of a
// key that repair compares between a key's owners (p2p's idsUnder), on an
// index of queryPosts posts, for the keys of 500 of them (all), and for
// those of them that hold at most 64 posts (short: most keys). Each
// operation lists one key.
func BenchmarkPostingList(b *testing.B) {
	posts := signed(b, sample(b, queryPosts))
	ix := murmurIndex(b, posts)
	ctx := context.Background()
	seen := map[string]bool{}
	var keys []keyspace.Key
	for _, p := range posts[:500] {
		for _, k := range keyspace.Keys(p) {
			if seen[k] {
				continue
			}
			seen[k] = true
			parsed, err := keyspace.Parse(k)
			if err != nil {
				b.Fatal(err)
			}
			keys = append(keys, parsed)
		}
	}
	var short []keyspace.Key // keys of at most 64 posts: most of them
	for _, k := range keys {
		ids, err := ix.IDsWithTerm(ctx, k.Field(), k.Value)
		if err != nil {
			b.Fatal(err)
		}
		if len(ids) <= 64 {
			short = append(short, k)
		}
	}
	for _, set := range []struct {
		name string
		keys []keyspace.Key
	}{{"all", keys}, {"short", short}} {
		b.Run(set.name, func(b *testing.B) {
			listed := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				k := set.keys[i%len(set.keys)]
				ids, err := ix.IDsWithTerm(ctx, k.Field(), k.Value)
				if err != nil {
					b.Fatal(err)
				}
				listed += len(ids)
			}
			b.ReportMetric(float64(listed)/float64(b.N), "ids/op")
			b.ReportMetric(float64(len(set.keys)), "keys")
		})
	}
}
