package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/adversary/attack"
	"github.com/murmur-p2p/murmur/internal/corpus"
	"github.com/murmur-p2p/murmur/internal/testenv"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
	"github.com/murmur-p2p/murmur/testnet"
)

// BenchmarkUnderAttack measures honest work on a 6-node network holding
// 2,000 fortunes while each attack of internal/adversary runs against it,
// against the same work with the attacker joined but idle: network search
// latency from one node (40 single-term searches) and write latency
// through another (10 posts). It reports both p50s under attack and their
// ratios to the run without, and the p50 right after the attacker joined
// (the network hands a new peer its keys). The attacker runs on the same
// two cores as the nodes, so a ratio also holds the attacker's own CPU,
// which a real one would spend elsewhere.
func BenchmarkUnderAttack(b *testing.B) {
	testenv.Need(b, corpus.Available(), "the fortunes corpus", corpus.InstallHint)
	all, err := corpus.Load()
	if err != nil {
		b.Fatal(err)
	}
	net := testnet.Start(b, 6, testnet.Options{})
	entries := all[:0:0]
	for i := 0; i < len(all) && len(entries) < 2000; i += max(len(all)/2000, 1) {
		entries = append(entries, all[i])
	}
	importInto(b, net.Nodes[0], entries[:1000])
	importInto(b, net.Nodes[3], entries[1000:])
	// Words found in 5 to 100 posts.
	df := map[string]int{}
	for _, e := range entries {
		for _, t := range index.Terms(e.Text) {
			df[t]++
		}
	}
	var words []string
	for t, n := range df {
		if n >= 5 && n <= 100 && len(t) > 3 {
			words = append(words, t)
		}
	}
	sort.Strings(words)
	written := 0
	measure := func() (search50, write50 time.Duration) {
		ctx := context.Background()
		var searches, writes []time.Duration
		for i := range 40 {
			start := time.Now()
			if _, err := net.Nodes[5].Search(ctx, query.Request{Q: words[(i*7+written)%len(words)], Limit: 10}); err != nil {
				b.Fatalf("an honest search: %v", err)
			}
			searches = append(searches, time.Since(start))
			if i%4 == 0 {
				written++
				start := time.Now()
				if p, err := net.Nodes[1].Publish(ctx, post.Draft{Text: fmt.Sprintf("honest bench note %d", written)}); p == nil {
					b.Fatalf("an honest write: %v", err)
				}
				writes = append(writes, time.Since(start))
			}
		}
		slices.Sort(searches)
		slices.Sort(writes)
		return searches[len(searches)/2], writes[len(writes)/2]
	}
	// settle waits until repair has stopped handing posts over for two
	// seconds, at most a minute.
	settle := func() {
		handed := func() float64 {
			sum := 0.0
			for _, nd := range net.Alive() {
				nd.Net().TriggerRepair()
				sum += metrics.Value(nd.Metrics(), metrics.HandoffPosts)
			}
			return sum
		}
		last, still := handed(), 0
		for deadline := time.Now().Add(time.Minute); still < 2 && time.Now().Before(deadline); {
			time.Sleep(time.Second)
			if now := handed(); now == last {
				still++
			} else {
				last, still = now, 0
			}
		}
	}
	measure() // warm the caches
	boot := net.Nodes[0].Net().Addrs()
	for _, a := range attack.Attacks() {
		b.Run(a.Name, func(b *testing.B) {
			for range b.N {
				ctx, stop := context.WithCancel(context.Background())
				joined, start := make(chan struct{}), make(chan struct{})
				done := make(chan *attack.Report, 1)
				go func() {
					rep, err := attack.Run(ctx, a.Name, attack.Config{Bootstrap: boot, Network: net.Name(), Duration: attack.MaxDuration,
						Joined: func() { close(joined) }, Start: start})
					if err != nil {
						b.Errorf("attack: %v", err)
					}
					done <- rep
				}()
				<-joined
				join50, _ := measure()
				settle() // the new peer has its keys
				base50, baseW := measure()
				close(start)
				time.Sleep(time.Second) // the attack under way
				under50, underW := measure()
				b.ReportMetric(float64(join50.Microseconds()), "joining-p50-µs")
				stop()
				<-done
				b.ReportMetric(float64(under50.Microseconds()), "search-p50-µs")
				b.ReportMetric(float64(under50)/float64(base50), "search-p50-ratio")
				b.ReportMetric(float64(underW.Microseconds()), "write-p50-µs")
				b.ReportMetric(float64(underW)/float64(baseW), "write-p50-ratio")
				settle() // the attacker's departure
			}
		})
	}
}

// importInto imports entries through a node, dated an hour apart in 2020.
func importInto(b *testing.B, nd *testnet.Member, entries []corpus.Entry) {
	b.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i, e := range entries {
		day := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		enc.Encode(api.ImportLine{Text: e.Text, Lang: e.Lang, CreatedAt: day.Format(time.RFC3339), Author: "fortune-" + e.Lang})
	}
	res, err := nd.Import(context.Background(), &buf, api.ImportOptions{}, nil)
	if err != nil || res.Accepted != len(entries) {
		b.Fatalf("import: %+v, %v", res, err)
	}
}

// BenchmarkSybilFlood runs sybil-flood (200 fresh identities, each post
// with the network's proof of work) for 10 s against 6 nodes, on a network
// without a post difficulty and on one with the default, while node 1
// writes honest posts. It reports the posts the flood got placed per
// second, the most posts and index bytes one node gained, the Go heap per
// node at the end, and the honest write p50 and failures.
func BenchmarkSybilFlood(b *testing.B) {
	const during = 10 * time.Second
	for _, d := range []int{0, p2p.DefaultPostDifficulty} {
		b.Run(fmt.Sprintf("post-difficulty=%d", d), func(b *testing.B) {
			for range b.N {
				net := testnet.Start(b, 6, testnet.Options{PostDifficulty: d})
				before := make([]int64, len(net.Nodes))
				posts := make([]uint64, len(net.Nodes))
				for i, nd := range net.Nodes {
					st, _ := nd.Status(context.Background())
					before[i], posts[i] = st.IndexBytes, st.Posts
				}
				ctx, cancel := context.WithTimeout(context.Background(), during)
				done := make(chan *attack.Report, 1)
				go func() {
					rep, err := attack.Run(ctx, "sybil-flood", attack.Config{Bootstrap: net.Nodes[0].Net().Addrs(), Network: net.Name(),
						Duration: attack.MaxDuration, Identities: 200, PostDifficulty: d})
					if err != nil {
						b.Errorf("attack: %v", err)
					}
					done <- rep
				}()
				var writes []time.Duration
				failed := 0
				for i := 0; ctx.Err() == nil; i++ {
					start := time.Now()
					if p, _ := net.Nodes[1].Publish(context.Background(), post.Draft{Text: fmt.Sprintf("honest note %d under a sybil flood", i)}); p == nil {
						failed++
					}
					writes = append(writes, time.Since(start))
					time.Sleep(100 * time.Millisecond)
				}
				cancel()
				rep := <-done
				b.Logf("post difficulty %d:\n%s", d, rep)
				var gained uint64
				var grew int64
				for i, nd := range net.Nodes {
					st, _ := nd.Status(context.Background())
					gained = max(gained, st.Posts-posts[i])
					grew = max(grew, st.IndexBytes-before[i])
				}
				var ms runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms)
				slices.Sort(writes)
				b.ReportMetric(float64(rep.Count("posts placed at their owners"))/during.Seconds(), "flood-placed/s")
				b.ReportMetric(float64(rep.Count("posts written"))/during.Seconds(), "flood-written/s")
				b.ReportMetric(float64(gained), "max-posts-gained/node")
				b.ReportMetric(float64(grew)/(1<<20), "max-index-MiB-gained/node")
				b.ReportMetric(float64(ms.HeapInuse)/float64(len(net.Nodes))/(1<<20), "heap-MiB/node")
				b.ReportMetric(float64(writes[len(writes)/2].Microseconds()), "honest-write-p50-µs")
				b.ReportMetric(float64(failed), "honest-writes-failed")
				net.Close()
			}
		})
	}
}
