//go:build unix

package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-msgio"

	"github.com/murmur-p2p/murmur/query"
)

// Sizes of the floor step's bare exchanges: about what a warm search's
// request and an owner's answer weigh on the wire with CBOR (the load
// step's wire bytes per search, 3.3 KB both ways at N=4).
const (
	floorRequestBytes = 400
	floorAnswerBytes  = 2900
	// floorMaxMessage bounds what the echo handler reads.
	floorMaxMessage = 1 << 16
)

// floorProto is the bare exchange's protocol: it reads a request and
// answers floorAnswerBytes, nothing else, so its cost is libp2p's
// (stream, negotiation, noise, yamux, loopback TCP) and no murmur code's.
const floorProto = protocol.ID("/murmur-bench/floor/1")

// floor measures what any search that asks one other node costs at the
// least: the load step's pool of searchLoadWorkers goroutines runs bare
// request and answer exchanges of a search's size from node 0 to the other
// nodes in turn, in chunks alternating with as many searches on the
// reference (one index), and reports both rates and the CPU each takes.
// Two ways of carrying an exchange:
//
//	new stream   a stream per exchange, as murmur's search protocol does
//	open stream  each worker keeps one stream per peer open and sends its
//	             requests on it one after the other
//
// A network search at N=4 asks at least one other owner for every first
// page (the cross-check), so exchanges/s over the reference's searches/s
// bounds the load step's qps-x-ref from above, whatever murmur's own code
// costs.
func (s *searchNet) floor(b *testing.B) {
	nd := s.net.Nodes[0]
	var others []peer.ID
	answer := make([]byte, floorAnswerBytes)
	for _, o := range s.net.Nodes[1:] {
		others = append(others, o.Net().Self())
		o.Net().Host().SetStreamHandler(floorProto, func(st network.Stream) {
			defer st.Close()
			rd := msgio.NewVarintReaderSize(st, floorMaxMessage)
			wr := msgio.NewVarintWriter(st)
			for {
				if _, err := rd.ReadMsg(); err != nil {
					if err != io.EOF {
						st.Reset()
					}
					return
				}
				if err := wr.WriteMsg(answer); err != nil {
					st.Reset()
					return
				}
			}
		})
	}
	defer func() {
		for _, o := range s.net.Nodes[1:] {
			o.Net().Host().RemoveStreamHandler(floorProto)
		}
	}()
	h := nd.Net().Host()
	request := make([]byte, floorRequestBytes)
	ctx := context.Background()

	// exchange sends one request on st and reads the answer.
	exchange := func(st network.Stream) error {
		if err := msgio.NewVarintWriter(st).WriteMsg(request); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		msg, err := msgio.NewVarintReaderSize(st, floorMaxMessage).ReadMsg()
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if len(msg) != floorAnswerBytes {
			return fmt.Errorf("answer of %d bytes, want %d", len(msg), floorAnswerBytes)
		}
		return nil
	}
	newStream := func(i int) {
		st, err := h.NewStream(ctx, others[i%len(others)], floorProto)
		if err != nil {
			b.Error(err)
			return
		}
		if err := exchange(st); err != nil {
			st.Reset()
			b.Error(err)
			return
		}
		_ = st.CloseWrite()
		_ = st.Close()
	}
	// pool holds the open streams per peer: an exchange takes one (or
	// opens one when none is free) and gives it back, so at most
	// searchLoadWorkers are open to a peer.
	var mu sync.Mutex
	pool := map[peer.ID][]network.Stream{}
	openStream := func(i int) {
		p := others[i%len(others)]
		mu.Lock()
		var st network.Stream
		if n := len(pool[p]); n > 0 {
			st, pool[p] = pool[p][n-1], pool[p][:n-1]
		}
		mu.Unlock()
		if st == nil {
			var err error
			if st, err = h.NewStream(ctx, p, floorProto); err != nil {
				b.Error(err)
				return
			}
		}
		if err := exchange(st); err != nil {
			st.Reset()
			b.Error(err)
			return
		}
		mu.Lock()
		pool[p] = append(pool[p], st)
		mu.Unlock()
	}
	defer func() {
		for _, sts := range pool {
			for _, st := range sts {
				_ = st.Close()
			}
		}
	}()
	ref := func(i int) {
		if _, err := query.Run(ctx, s.ref, query.Request{Q: s.all[i%len(s.all)].q, Limit: searchPage}); err != nil {
			b.Error(err)
		}
	}
	type step struct {
		fn        func(int)
		took, cpu time.Duration
	}
	steps := []*step{{fn: ref}, {fn: newStream}, {fn: openStream}}
	// Warm: every pooled stream opened, every peer connected.
	openStream(0)
	b.ResetTimer()
	for range b.N {
		for c := 0; c*searchLoadChunk < searchLoadQueries; c++ {
			for k := range steps {
				st := steps[(c+k)%len(steps)] // rotate the order, so no step always follows another
				cpu := cpuTime()
				st.took += runPool(c*searchLoadChunk, "", st.fn)
				st.cpu += cpuTime() - cpu
			}
		}
	}
	b.StopTimer()
	n := float64(b.N * searchLoadQueries)
	rate := func(st *step) float64 { return n / st.took.Seconds() }
	b.ReportMetric(rate(steps[0]), "ref-queries/s")
	b.ReportMetric(ms(steps[0].cpu)/n, "ref-cpu-ms/query")
	b.ReportMetric(rate(steps[1]), "new-stream-exchanges/s")
	b.ReportMetric(ms(steps[1].cpu)/n, "new-stream-cpu-ms/exchange")
	b.ReportMetric(rate(steps[1])/rate(steps[0]), "new-stream-x-ref")
	b.ReportMetric(rate(steps[2]), "open-stream-exchanges/s")
	b.ReportMetric(ms(steps[2].cpu)/n, "open-stream-cpu-ms/exchange")
	b.ReportMetric(rate(steps[2])/rate(steps[0]), "open-stream-x-ref")
}
