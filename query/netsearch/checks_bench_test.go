package netsearch

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/query"
)

// BenchmarkOwnerChecks is what the checks of a first page sorted by score
// cost (a second owner, recomputed scores) against trusting one owner, over
// the fake network: real indexes in one process, no wire. It reports the
// answer bytes per query next to the time.
func BenchmarkOwnerChecks(b *testing.B) {
	posts := fakePosts(b, 2000)
	for _, n := range []int{8, 16} {
		fn := newFakeNet(b, n, 3, posts)
		for _, trust := range []bool{true, false} {
			name := "checked"
			if trust {
				name = "trusting"
			}
			b.Run(fmt.Sprintf("nodes=%d/%s", n, name), func(b *testing.B) {
				ct := &countingTransport{Transport: fn.transport(0)}
				c := New(ct, Config{TrustOwners: trust})
				defer c.Close()
				ctx := context.Background()
				qs := []string{"heron", "heron tide", `"the heron"`, "gull OR kelp"}
				for _, q := range qs { // warm the statistics and counts
					if _, err := c.Search(ctx, query.Request{Q: q, Limit: 10}); err != nil {
						b.Fatal(err)
					}
				}
				ct.mu.Lock()
				ct.bytes, ct.answers = 0, 0
				ct.mu.Unlock()
				i := 0
				for b.Loop() {
					if _, err := c.Search(ctx, query.Request{Q: qs[i%len(qs)], Limit: 10}); err != nil {
						b.Fatal(err)
					}
					i++
				}
				b.ReportMetric(float64(ct.bytes)/float64(i), "answer-bytes/query")
				b.ReportMetric(float64(ct.answers)/float64(i), "answers/query")
			})
		}
	}
}

// countingTransport counts the search answers it carries and their bytes
// in the wire's JSON.
type countingTransport struct {
	Transport
	mu             sync.Mutex
	bytes, answers int
}

func (t *countingTransport) Search(ctx context.Context, p peer.ID, req *Request) (*Response, error) {
	resp, err := t.Transport.Search(ctx, p, req)
	if err == nil {
		raw, _ := json.Marshal(resp)
		t.mu.Lock()
		t.bytes += len(raw)
		t.answers++
		t.mu.Unlock()
	}
	return resp, err
}
