package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/live"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
	"github.com/murmur-p2p/murmur/testnet"
)

// BenchmarkLiveLatency follows a word on node 0 of N nodes and writes
// matching posts on the others, one at a time: each op is one post, timed
// from the moment its writer acknowledged it (Publish returned, so it is
// at W owners) to its arrival at node 0's subscriber. It reports the p50
// and p99 of that delay.
func BenchmarkLiveLatency(b *testing.B) {
	for _, n := range []int{4, 8, 16} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			net := testnet.Start(b, n, testnet.Options{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			hits, err := net.Nodes[0].Follow(ctx, query.Request{Q: "wagtail"})
			if err != nil {
				b.Fatal(err)
			}
			net.WaitFor("the standing search at the owners", 20*time.Second, func() bool {
				kept := 0
				for _, nd := range net.Alive() {
					kept += nd.Net().Live().Len()
				}
				return kept >= 3
			})
			var delays []time.Duration
			b.ResetTimer()
			for i := range b.N {
				writer := net.Nodes[1+i%(n-1)]
				p, err := writer.Publish(context.Background(), post.Draft{Text: fmt.Sprintf("a wagtail on the roof, %d", i)})
				if err != nil {
					b.Fatal(err)
				}
				acked := time.Now()
				select {
				case h := <-hits:
					if h.Post.ID != p.ID {
						b.Fatalf("arrived %s, want %s", h.Post.ID, p.ID)
					}
				case <-time.After(10 * time.Second):
					b.Fatalf("post %d did not arrive in 10 s", i)
				}
				delays = append(delays, time.Since(acked))
			}
			b.StopTimer()
			slices.Sort(delays)
			b.ReportMetric(float64(delays[len(delays)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkStandingSearches offers stored posts to an owner's registry
// holding a number of standing searches on the post's key, each a
// different query (the key's word and one more, half of them matching):
// each op is one stored post, so ns/op is the CPU a post costs the owner
// for its standing searches.
func BenchmarkStandingSearches(b *testing.B) {
	key := keyspace.TermKeys("otter")[0]
	k := testkit.Key(b)
	for _, subs := range []int{0, 10, 100, 1000} {
		b.Run(fmt.Sprintf("searches=%d", subs), func(b *testing.B) {
			r := live.NewRegistry()
			for i := range subs {
				q := fmt.Sprintf("otter -word%d", i)
				if i%2 == 1 {
					q = fmt.Sprintf("otter word%d", i)
				}
				p, err := query.Prepare(query.Request{Q: q})
				if err != nil {
					b.Fatal(err)
				}
				sub, err := r.Add(fmt.Sprintf("peer%d", i/live.MaxPerPeer), key, p.Expr)
				if err != nil {
					b.Fatal(err)
				}
				go func() {
					for range sub.Pushes {
					}
				}()
			}
			posts := make([]*post.Post, b.N)
			now := time.Now()
			for i := range posts {
				p, err := post.Sign(k, post.Draft{Text: fmt.Sprintf("an otter in the sea, note %d, word%d", i, i%7)}, now.Add(time.Duration(i)*time.Millisecond))
				if err != nil {
					b.Fatal(err)
				}
				posts[i] = p
			}
			b.ResetTimer()
			for _, p := range posts {
				r.Offer(p)
			}
		})
	}
}
