package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// startKestrelNetwork starts 3 nodes holding 30 posts with "kestrel" and
// returns the first and another owner of the kestrel key; noLending
// makes every node serve each peer within its rate alone.
func startKestrelNetwork(t *testing.T, noLending bool) (querier, owner *Service, key string) {
	t.Helper()
	net := startNetwork(t, 3, func(c *Config) {
		c.Metrics = prometheus.NewRegistry()
		c.NoLending = noLending
		ix := c.Store.(*index.Index)
		c.Searcher = func(ctx context.Context, req *netsearch.Request) (*netsearch.Response, error) {
			return netsearch.Answer(ctx, ix, req)
		}
	})
	querier = net.svcs[0]
	posts := signPosts(t, 30, func(i int) string {
		return fmt.Sprintf("kestrel sample %d: the kestrel hovers over the %d fields", i, i)
	})
	net.write(querier, posts)
	want := keyCounts(posts)
	poll.Until(t, "every copy placed", 30*time.Second, 100*time.Millisecond, func() bool { return net.misplaced(want) == 0 })
	key = keyspace.TermKey("kestrel")
	for _, s := range net.svcs[1:] {
		if slices.Contains(net.trueOwners(key), s.ID()) {
			return querier, s, key
		}
	}
	t.Fatalf("no peer of the querier owns %s", key)
	return nil, nil, ""
}

// TestSearchAndStatsStreamsCarryManyRequests: a querier asks an owner 40
// searches and 40 key counts one after the other, then 16 at once, and
// each protocol opens one stream for the first 40 and at most
// PooledStreamsPerPeer are kept after the burst. When the owner closes
// the kept streams (as it does when they idle, or on restart), the next
// request goes on a new stream and is answered.
func TestSearchAndStatsStreamsCarryManyRequests(t *testing.T) {
	querier, owner, key := startKestrelNetwork(t, false)
	ctx := context.Background()
	req := &netsearch.Request{Query: "kestrel", Sort: "top", Size: 10, Keys: []string{key}}
	ask := func() error {
		resp, err := querier.Search(ctx, owner.ID(), req)
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		if len(resp.Hits) != 10 || resp.Total != 30 {
			return fmt.Errorf("search: %d hits of %d, want 10 of 30", len(resp.Hits), resp.Total)
		}
		counts, err := querier.Counts(ctx, owner.ID(), []string{key})
		if err != nil {
			return fmt.Errorf("counts: %w", err)
		}
		if len(counts) != 1 || counts[0].Count != 30 || counts[0].Split != nil {
			return fmt.Errorf("counts %+v, want 30 and no split", counts)
		}
		return nil
	}
	pool := querier.streams
	for i := range 40 {
		if err := ask(); err != nil {
			t.Fatalf("exchange %d: %v", i, err)
		}
	}
	if opened, reused := pool.opened.Load(), pool.reused.Load(); opened != 2 || reused != 78 {
		t.Fatalf("80 exchanges one after the other opened %d streams and reused one %d times; want 2 and 78", opened, reused)
	}
	if n := keptStreams(owner, querier); n != 2 {
		t.Fatalf("the owner serves %d streams of the querier's, want the 2 kept", n)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- ask()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("16 at once: %v", err)
		}
	}
	pool.mu.Lock()
	idle := len(pool.idle[poolKey{owner.ID(), SearchProtocol(owner.cfg.Network)}]) + len(pool.idle[poolKey{owner.ID(), StatsProtocol(owner.cfg.Network)}])
	pool.mu.Unlock()
	if idle < 2 || idle > 2*PooledStreamsPerPeer {
		t.Fatalf("%d streams kept idle to the owner after 16 at once, want 2 to %d", idle, 2*PooledStreamsPerPeer)
	}

	// The owner closes every stream of the querier's: the querier's kept
	// ones are dead, and it must notice and ask again on a new one.
	for _, c := range owner.Host().Network().ConnsToPeer(querier.ID()) {
		for _, st := range c.GetStreams() {
			if carriesMany(st.Protocol()) {
				_ = st.Close()
			}
		}
	}
	poll.Until(t, "the owner's side of the kept streams closed", 5*time.Second, 20*time.Millisecond, func() bool { return keptStreams(owner, querier) == 0 })
	opened := pool.opened.Load()
	if err := ask(); err != nil {
		t.Fatalf("after the owner closed the kept streams: %v", err)
	}
	if n := pool.opened.Load() - opened; n != 2 {
		t.Fatalf("after the owner closed the kept streams the querier opened %d new ones, want 2", n)
	}
}

// keptStreams counts the streams of protocols that carry many requests
// that s serves to from.
func keptStreams(s, from *Service) int {
	n := 0
	for _, c := range s.Host().Network().ConnsToPeer(from.ID()) {
		for _, st := range c.GetStreams() {
			if st.Stat().Direction == network.DirInbound && carriesMany(st.Protocol()) {
				n++
			}
		}
	}
	return n
}

// TestAKeptStreamIsBoundedLikeOne: a stranger that keeps a search stream
// open gets no more than one that opens a stream per request. Its
// requests on one stream are answered within its rate and refused beyond
// it, the refusal resets the stream, and a stream left silent after a
// request is ended after StreamIdleTimeout.
func TestAKeptStreamIsBoundedLikeOne(t *testing.T) {
	// The owner lends no spare capacity: its peer's rate is the bound.
	_, owner, key := startKestrelNetwork(t, true)
	h := newAttacker(t, owner)
	proto := SearchProtocol(owner.cfg.Network)
	if !carriesMany(proto) {
		t.Fatalf("%s does not carry many requests", proto)
	}
	// The flood must outrun the peer's rate, which takes longer on a
	// machine busy with other packages' tests under -race (a CI run took
	// more than a minute).
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// Flood: requests one after the other on kept streams, as fast as the
	// owner answers them, unpaced, until it refuses one.
	req := &netsearch.Request{Query: "kestrel", Sort: "top", Size: 10, Keys: []string{key}}
	const most = 20_000
	answered, longest := 0, 0
	refused := false
	for answered < most && !refused {
		st, err := h.NewStream(ctx, owner.ID(), proto)
		if err != nil {
			t.Fatal(err)
		}
		onStream := 0
		for answered < most {
			if _, err := writeMessage(st, req); err != nil {
				refused = true
				break
			}
			var resp netsearch.Response
			if _, err := readMessage(st, &resp); err != nil {
				// Closed after MaxRequestsPerStream, or reset to refuse.
				refused = !errors.Is(err, io.EOF)
				if !refused && onStream != MaxRequestsPerStream {
					t.Fatalf("the owner closed a kept stream after %d answers, want %d", onStream, MaxRequestsPerStream)
				}
				break
			}
			if resp.Total != 30 {
				t.Fatalf("answer %d on a kept stream: total %d, want 30", answered, resp.Total)
			}
			answered++
			onStream++
		}
		longest = max(longest, onStream)
		st.Reset()
	}
	if !refused || longest < 2 {
		t.Fatalf("the owner answered %d requests, at most %d on one stream, and refused none", answered, longest)
	}
	if n := refusedCount(owner.cfg.Metrics, metrics.ProtocolSearch, metrics.RefusedRateLimited); n < 1 {
		t.Fatalf("%d requests refused as over the rate after %d answered", int(n), answered)
	}
	t.Logf("kept streams carried %d answers, at most %d on one, then the owner refused one over the peer's rate", answered, longest)

	// Silence: after one request, the stream sends nothing; the owner
	// ends it. (Before its first request a kept stream waits
	// RequestReadTimeout, as any stream.) First wait out the rate the
	// flood spent.
	time.Sleep(time.Duration(float64(PeerSearchBurst)/PeerSearchRate*float64(time.Second)) + 100*time.Millisecond)
	idle, err := h.NewStream(ctx, owner.ID(), proto)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writeMessage(idle, req); err != nil {
		t.Fatal(err)
	}
	var resp netsearch.Response
	if _, err := readMessage(idle, &resp); err != nil || resp.Total != 30 {
		t.Fatalf("one request on a new kept stream: total %d, %v", resp.Total, err)
	}
	if err := idle.SetDeadline(time.Now().Add(StreamIdleTimeout + 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var one [1]byte
	if _, err := idle.Read(one[:]); !errors.Is(err, io.EOF) && !errors.Is(err, network.ErrReset) {
		t.Fatalf("a kept stream left idle: read %v after %v, want the owner to end it", err, time.Since(start))
	}
	if took := time.Since(start); took < StreamIdleTimeout-time.Second {
		t.Fatalf("the owner ended an idle kept stream after %v, before StreamIdleTimeout %v", took, StreamIdleTimeout)
	}
}

// poolStream is a stream for the pool's own test: its protocol, and
// whether it was closed. The pool calls nothing else of a stream.
type poolStream struct {
	network.Stream
	proto  protocol.ID
	closed bool
}

func (f *poolStream) Protocol() protocol.ID { return f.proto }
func (f *poolStream) Close() error          { f.closed = true; return nil }

// TestStreamPoolBounds: the pool keeps at most PooledStreamsPerPeer idle
// streams per peer and protocol and PooledStreams in all, retires a stream
// that carried MaxRequestsPerStream requests, hands out none idle longer
// than PooledStreamMaxIdle, and makes room when full by closing such
// stale ones: a querier that has asked many peers once keeps reusing
// streams afterwards.
func TestStreamPoolBounds(t *testing.T) {
	const proto = protocol.ID("/murmur/test/search/6.0.0")
	sp := newStreamPool()
	newStream := func() (*pooledStream, *poolStream) {
		f := &poolStream{proto: proto}
		return &pooledStream{Stream: f, kept: true, requests: 1}, f
	}
	age := func(d time.Duration) {
		sp.mu.Lock()
		defer sp.mu.Unlock()
		for _, list := range sp.idle {
			for _, ps := range list {
				ps.since = ps.since.Add(-d)
			}
		}
	}

	// Per peer and protocol.
	var fs []*poolStream
	for range PooledStreamsPerPeer + 1 {
		ps, f := newStream()
		sp.put("a", ps)
		fs = append(fs, f)
	}
	if !fs[PooledStreamsPerPeer].closed || fs[0].closed {
		t.Fatalf("one stream over PooledStreamsPerPeer: closed %v, want the last alone", fs[PooledStreamsPerPeer].closed)
	}
	if got := sp.take("a", []protocol.ID{"/murmur/test/search/5.0.0"}); got != nil {
		t.Fatal("a stream of another protocol was handed out")
	}
	if got := sp.take("a", []protocol.ID{proto}); got == nil || got.Stream != fs[PooledStreamsPerPeer-1] {
		t.Fatal("take did not hand out the most recently kept stream")
	}

	// Retired after its last request.
	ps, f := newStream()
	ps.requests = MaxRequestsPerStream
	sp.put("b", ps)
	if !f.closed || sp.take("b", []protocol.ID{proto}) != nil {
		t.Fatal("a stream that carried MaxRequestsPerStream requests was kept")
	}

	// Stale ones are not handed out.
	age(PooledStreamMaxIdle + time.Second)
	if got := sp.take("a", []protocol.ID{proto}); got != nil {
		t.Fatal("a stream idle for longer than PooledStreamMaxIdle was handed out")
	}
	for _, f := range fs[:PooledStreamsPerPeer-1] {
		if !f.closed {
			t.Fatal("take passed a stale stream without closing it")
		}
	}

	// Full of stale streams to peers asked once: room is made.
	var once []*poolStream
	for i := range PooledStreams {
		ps, f := newStream()
		sp.put(peer.ID(fmt.Sprint("once-", i)), ps)
		once = append(once, f)
	}
	if sp.count != PooledStreams {
		t.Fatalf("%d streams kept of %d put to distinct peers, want PooledStreams %d", sp.count, PooledStreams, PooledStreams)
	}
	age(PooledStreamMaxIdle + time.Second)
	ps, f = newStream()
	sp.put("c", ps)
	if f.closed || sp.take("c", []protocol.ID{proto}) != ps {
		t.Fatal("a full pool of stale streams did not make room for a fresh one")
	}
	for i, f := range once {
		if !f.closed {
			t.Fatalf("stale stream %d was not closed when the pool made room", i)
		}
	}
	if sp.count != 0 {
		t.Fatalf("%d streams left in the pool, want 0", sp.count)
	}
}
