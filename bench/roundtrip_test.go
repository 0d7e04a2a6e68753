//go:build unix

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	"github.com/libp2p/go-msgio"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/query/netsearch"
	"github.com/murmur-p2p/murmur/testnet"
)

// roundTripReps is how often each step of BenchmarkSearchRoundTrip is
// timed per operation, interleaved.
const roundTripReps = 500

// BenchmarkSearchRoundTrip measures the floor under a network search: the
// same owner's answer to one rare term (a key of one to three posts, a
// page of 21) asked of this node's own index in process, and of another
// node over the search protocol on loopback, next to a libp2p ping on the
// same connection. Two nodes hold every post (N < R), so both answer
// alike. The steps run interleaved, roundTripReps of each per operation,
// at half the owner's per-peer search rate:
//
//	local-p50-µs   the owner's work alone (parse, compile, bleve, encode)
//	remote-p50-µs  the same request from another node: a new stream,
//	               protocol negotiation, JSON both ways, loopback TCP
//	ping-p50-µs    a libp2p ping on the open connection
//	echo-p50-µs    the request's bytes echoed on a new stream of a
//	               protocol that does nothing else: the stream's cost
//
// A search sorted by score asks two owners (the quorum that makes a new
// post readable once W=2 of R=3 hold it), so at least one of the two is
// remote unless the querier owns the key and its partner answers at once.
func BenchmarkSearchRoundTrip(b *testing.B) {
	es := sample(b, 300)
	net := testnet.Start(b, 2, testnet.Options{SettleMargin: searchSettleMargin, KeySettleFor: searchSettleMargin})
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i, e := range es {
		day := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		if err := enc.Encode(api.ImportLine{Text: e.Text, Lang: e.Lang, CreatedAt: day.Format(time.RFC3339)}); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	if res, err := net.Nodes[0].Import(ctx, &buf, api.ImportOptions{}, nil); err != nil || res.Accepted != len(es) {
		b.Fatalf("import: %+v, %v", res, err)
	}
	// A rare term: in one post only, not hot.
	df := map[string]int{}
	for _, e := range es {
		for _, t := range index.Terms(e.Text) {
			df[t]++
		}
	}
	var term string
	for _, e := range es {
		for _, t := range index.Terms(e.Text) {
			if df[t] == 1 && len(t) > 4 && !keyspace.IsHot(t) && term == "" {
				term = t
			}
		}
	}
	if term == "" {
		b.Fatal("no rare term in the sample")
	}
	a, other := net.Nodes[0].Net(), net.Nodes[1].Net()
	req := &netsearch.Request{Query: term, Sort: "top", Size: 21, Keys: keyspace.TermKeys(term), Index: 0}
	pinger := ping.NewPingService(a.Host())
	// An echo of the request's bytes, on a stream of its own: the libp2p
	// stream's cost without murmur's handler.
	const echoProto = protocol.ID("/murmur-bench/echo/1")
	other.Host().SetStreamHandler(echoProto, func(st network.Stream) {
		defer st.Close()
		rd := msgio.NewVarintReaderSize(st, 1<<20)
		msg, err := rd.ReadMsg()
		if err != nil {
			st.Reset()
			return
		}
		_ = msgio.NewVarintWriter(st).WriteMsg(msg)
	})
	reqBytes, err := json.Marshal(req)
	if err != nil {
		b.Fatal(err)
	}
	echo := func() error {
		st, err := a.Host().NewStream(ctx, other.Self(), echoProto)
		if err != nil {
			return err
		}
		if err := msgio.NewVarintWriter(st).WriteMsg(reqBytes); err != nil {
			st.Reset()
			return err
		}
		if err := st.CloseWrite(); err != nil {
			st.Reset()
			return err
		}
		if _, err := msgio.NewVarintReaderSize(st, 1<<20).ReadMsg(); err != nil {
			st.Reset()
			return err
		}
		return st.Close()
	}
	var local, remote, pings, echoes []time.Duration
	// Stay under the owner's per-peer search rate (p2p.PeerSearchRate).
	pace := time.NewTicker(time.Second / (p2p.PeerSearchRate / 2))
	defer pace.Stop()
	for range b.N {
		for range roundTripReps {
			<-pace.C
			start := time.Now()
			resp, err := a.Search(ctx, a.Self(), req)
			local = append(local, time.Since(start))
			if err != nil || len(resp.Hits) != 1 {
				b.Fatalf("local answer: %v hits, %v", resp, err)
			}
			start = time.Now()
			resp, err = a.Search(ctx, other.Self(), req)
			remote = append(remote, time.Since(start))
			if err != nil || len(resp.Hits) != 1 {
				b.Fatalf("remote answer: %v hits, %v", resp, err)
			}
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			r := <-pinger.Ping(pctx, other.Self())
			cancel()
			if r.Error != nil {
				b.Fatalf("ping: %v", r.Error)
			}
			pings = append(pings, r.RTT)
			start = time.Now()
			if err := echo(); err != nil {
				b.Fatalf("echo: %v", err)
			}
			echoes = append(echoes, time.Since(start))
		}
	}
	p50 := func(ds []time.Duration) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[len(s)/2].Microseconds())
	}
	b.ReportMetric(p50(local), "local-p50-µs")
	b.ReportMetric(p50(remote), "remote-p50-µs")
	b.ReportMetric(p50(pings), "ping-p50-µs")
	b.ReportMetric(p50(echoes), "echo-p50-µs")
	b.ReportMetric(p50(remote)/p50(local), "remote/local")
}
