package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/internal/corpus"
	"github.com/murmur-p2p/murmur/internal/testenv"
	"github.com/murmur-p2p/murmur/testnet"
)

// networkBatch is how many posts one network ingest operation imports.
const networkBatch = 500

// BenchmarkNetworkIngest imports posts through one node of an N-node
// loopback network, which places each at the R owners of each of its keys,
// and reports posts per second, store-protocol bytes sent per post (all
// nodes, repair included) and copies per post (postings held network-wide).
func BenchmarkNetworkIngest(b *testing.B) {
	testenv.Need(b, corpus.Available(), "the fortunes corpus", corpus.InstallHint)
	all, err := corpus.Load()
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{4, 8, 16} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			net := testnet.Start(b, n, testnet.Options{})
			next := 0
			batch := func() *bytes.Buffer {
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				for range networkBatch {
					e := all[next%len(all)]
					enc.Encode(api.ImportLine{Text: e.Text, Lang: e.Lang, Author: "bench",
						CreatedAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(next) * time.Second).Format(time.RFC3339)})
					next++
				}
				return &buf
			}
			bytesOut := func() float64 {
				total := 0.0
				for _, nd := range net.Alive() {
					total += testutil.ToFloat64(nd.Metrics().ProtocolBytes.WithLabelValues("store", "out"))
					total += testutil.ToFloat64(nd.Metrics().ProtocolBytes.WithLabelValues("sync", "out"))
				}
				return total
			}
			before := bytesOut()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				body := batch()
				b.StartTimer()
				res, err := net.Nodes[0].Import(context.Background(), body, nil)
				if err != nil || res.Accepted != networkBatch {
					b.Fatalf("import: %+v, %v", res, err)
				}
			}
			b.StopTimer()
			posts := float64(b.N * networkBatch)
			b.ReportMetric(posts/b.Elapsed().Seconds(), "posts/s")
			b.ReportMetric((bytesOut()-before)/posts, "wire-bytes/post")
			held := 0
			for _, nd := range net.Alive() {
				c, _ := nd.Status(context.Background())
				held += int(c.Posts)
			}
			b.ReportMetric(float64(held)/posts, "node-copies/post")
		})
	}
}
