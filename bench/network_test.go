package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/internal/corpus"
	"github.com/murmur-p2p/murmur/internal/testenv"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/testnet"
)

// networkBatch is how many posts one network ingest operation imports.
const networkBatch = 500

// BenchmarkNetworkIngest imports posts through one node of an N-node
// loopback network (N = 4, 8, 16, 32; -short leaves out 32), which places
// each at the R owners of each of its keys, and reports posts per second,
// store-protocol bytes sent per post (all nodes, repair included), copies
// per post (nodes holding it), DHT lookups for owners per post (zero below
// 20 peers) and posts held per node (BenchmarkNodeMemory measures memory,
// on whole processes).
func BenchmarkNetworkIngest(b *testing.B) {
	testenv.Need(b, corpus.Available(), "the fortunes corpus", corpus.InstallHint)
	all, err := corpus.Load()
	if err != nil {
		b.Fatal(err)
	}
	sizes := []int{4, 8, 16, 32}
	if testing.Short() {
		sizes = sizes[:3]
	}
	for _, n := range sizes {
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
					total += metrics.Value(nd.Metrics(), metrics.ProtocolBytes, "protocol", metrics.ProtocolStore, "direction", metrics.DirectionOut)
					total += metrics.Value(nd.Metrics(), metrics.ProtocolBytes, "protocol", metrics.ProtocolSync, "direction", metrics.DirectionOut)
				}
				return total
			}
			before := bytesOut()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				body := batch()
				b.StartTimer()
				res, err := net.Nodes[0].Import(context.Background(), body, api.ImportOptions{}, nil)
				if err != nil || res.Accepted != networkBatch {
					b.Fatalf("import: %+v, %v", res, err)
				}
			}
			b.StopTimer()
			posts := float64(b.N * networkBatch)
			b.ReportMetric(posts/b.Elapsed().Seconds(), "posts/s")
			b.ReportMetric((bytesOut()-before)/posts, "wire-bytes/post")
			held := 0
			lookups := 0.0
			for _, nd := range net.Alive() {
				c, _ := nd.Status(context.Background())
				held += int(c.Posts)
				lookups += metrics.Value(nd.Metrics(), metrics.OwnerLookups)
			}
			b.ReportMetric(float64(held)/posts, "node-copies/post")
			b.ReportMetric(lookups/posts, "owner-lookups/post")
			b.ReportMetric(float64(held)/float64(n), "posts-held/node")
		})
	}
}

// rssBytes returns the resident set of a process, from /proc.
func rssBytes(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0, err
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(raw), &size, &resident); err != nil {
		return 0, fmt.Errorf("parse /proc/%d/statm: %w", pid, err)
	}
	return resident * int64(os.Getpagesize()), nil
}

// memoryNodes and memorySteps shape BenchmarkNodeMemory: 8 node processes,
// posts imported in 5 steps of 2,000.
const (
	memoryNodes    = 8
	memorySteps    = 5
	memoryStepSize = 2000
)

// BenchmarkNodeMemory runs the real binary as 8 node processes, imports
// fortunes through node 0 in steps, and after each step reads every node's
// resident set (/proc/PID/statm) and posts held (status). It reports the
// mean resident set per node with no posts and at the end, posts held per
// node, and the growth in KiB per post held, fitted between the first and
// last step. Run it with -benchtime 1x.
func BenchmarkNodeMemory(b *testing.B) {
	testenv.Need(b, corpus.Available(), "the fortunes corpus", corpus.InstallHint)
	all, err := corpus.Load()
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		ps := testnet.StartProcesses(b, memoryNodes)
		measure := func() (rss, held float64) {
			for _, nd := range ps.Nodes {
				r, err := rssBytes(nd.PID())
				if err != nil {
					b.Fatal(err)
				}
				st, err := nd.API.Status(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				rss += float64(r)
				held += float64(st.Posts)
			}
			return rss / memoryNodes, held / memoryNodes
		}
		rss0, _ := measure()
		b.Logf("posts held per node | resident MiB per node")
		b.Logf("%d | %.1f", 0, rss0/(1<<20))
		var firstRSS, firstHeld, rss, held float64
		for step := range memorySteps {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			for j := range memoryStepSize {
				e := all[(step*memoryStepSize+j)%len(all)]
				enc.Encode(api.ImportLine{Text: e.Text, Lang: e.Lang, Author: "bench",
					CreatedAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(step*memoryStepSize+j) * time.Second).Format(time.RFC3339)})
			}
			res, err := ps.Nodes[0].API.Import(context.Background(), &buf)
			if err != nil || res.Accepted != memoryStepSize {
				b.Fatalf("import step %d: %+v, %v", step, res, err)
			}
			time.Sleep(2 * time.Second) // let batches and merges finish
			rss, held = measure()
			if step == 0 {
				firstRSS, firstHeld = rss, held
			}
			b.Logf("%.0f | %.1f", held, rss/(1<<20))
		}
		b.ReportMetric(rss0/(1<<20), "idle-rss-MiB/node")
		b.ReportMetric(rss/(1<<20), "rss-MiB/node")
		b.ReportMetric(held, "posts-held/node")
		b.ReportMetric((rss-firstRSS)/(held-firstHeld)/1024, "rss-KiB/post-held")
		ps.Close()
	}
}
