package netsearch

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/query"
)

// BenchmarkOwnedKey is a network search whose keys the querier owns and
// answers alone, against the same query on the querier's own index: what
// the search machinery costs around one local index search. The fake
// network holds 3 nodes and R=3, so the querier owns every key; its own
// answers skip the fake transport's counting.
func BenchmarkOwnedKey(b *testing.B) {
	fn := newFakeNet(b, 3, 3, fakePosts(b, 2000))
	self := fn.nodes[0]
	tr := ownTransport{fakeTransport: fn.transport(0).(fakeTransport), nd: self}
	c := New(tr, Config{SelfCheckShare: -1})
	defer c.Close()
	ctx := context.Background()
	qs := []string{"heron", "heron tide", `"heron near"`, "kelp"}
	for _, q := range qs { // warm the statistics and counts
		if _, err := c.Search(ctx, query.Request{Q: q, Limit: 10}); err != nil {
			b.Fatal(err)
		}
	}
	var net, local time.Duration
	i := 0
	for b.Loop() {
		req := query.Request{Q: qs[i%len(qs)], Limit: 10}
		start := time.Now()
		if _, err := c.Search(ctx, req); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if _, err := query.Run(ctx, self.ix, req); err != nil {
			b.Fatal(err)
		}
		net, local = net+mid.Sub(start), local+time.Since(mid)
		i++
	}
	b.ReportMetric(float64(net.Microseconds())/float64(i), "network-µs/query")
	b.ReportMetric(float64(local.Microseconds())/float64(i), "local-µs/query")
	b.ReportMetric(float64(net)/float64(local), "network-x-local")
}

// ownTransport answers this node's own searches directly, without the
// fake transport's delays, lies and byte counting.
type ownTransport struct {
	fakeTransport
	nd *fakeNode
}

func (t ownTransport) Search(ctx context.Context, p peer.ID, req *Request) (*Response, error) {
	if p != t.nd.id {
		return t.fakeTransport.Search(ctx, p, req)
	}
	return t.nd.answer(ctx, req)
}
