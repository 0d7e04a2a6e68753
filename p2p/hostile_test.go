package p2p

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// The tests of this file each play one attack of a hostile peer against
// real services and check that it fails. Each defence's test fails without
// it.

// newAttacker starts a bare libp2p host, as any stranger can, connected to
// every target.
func newAttacker(t *testing.T, targets ...*Service) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(testkit.Key(t)), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	for _, s := range targets {
		if err := h.Connect(context.Background(), peer.AddrInfo{ID: s.ID(), Addrs: s.Host().Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// exchange sends req on a new stream of proto to s and reads the answer
// into resp; an error when the service reset the stream or the deadline
// passed.
func exchange(ctx context.Context, h host.Host, s *Service, proto protocol.ID, req, resp any) error {
	st, err := h.NewStream(ctx, s.ID(), proto)
	if err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok {
		st.SetDeadline(d)
	}
	if _, err := writeMessage(st, req); err != nil {
		st.Reset()
		return err
	}
	st.CloseWrite()
	if _, err := readMessage(st, resp); err != nil {
		st.Reset()
		return err
	}
	return st.Close()
}

func refusedCount(reg prometheus.Registerer, protocol, reason string) float64 {
	return metrics.Value(reg.(prometheus.Gatherer), metrics.Refused, "protocol", protocol, "reason", reason)
}

func tombstoneOf(t *testing.T, key crypto.PrivKey, target string) json.RawMessage {
	t.Helper()
	ts, err := post.SignTombstone(key, target, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(ts)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestForgedTombstonesEraseNothing: an attacker signs tombstones for
// other authors' posts and sends them to every node, before and after the
// posts reach it: to a node that is about to join and become an owner, and
// to the owners that hold the posts. Every post still reaches every true
// owner of every key, and no holder drops its copy.
func TestForgedTombstonesEraseNothing(t *testing.T) {
	net := startNetwork(t, 4, func(c *Config) { c.Metrics = metrics.New() })
	posts := signPosts(t, 30, func(i int) string { return fmt.Sprintf("heron %d wades through reed %d", i, i*7) })
	mallory := testkit.Key(t)
	forged := make([]json.RawMessage, len(posts))
	for i, p := range posts {
		forged[i] = tombstoneOf(t, mallory, p.ID)
	}

	// A node that has not joined yet gets the tombstones first.
	var open atomic.Bool
	first := net.svcs[0]
	late := net.addWith(func(c *Config) {
		c.Bootstrap = func() []peer.AddrInfo {
			if !open.Load() {
				return nil
			}
			return []peer.AddrInfo{{ID: first.ID(), Addrs: first.Host().Addrs()}}
		}
	})
	h := newAttacker(t, late)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var resp storeResponse
	if err := exchange(ctx, h, late, StoreProtocol(net.name), &storeRequest{Tombstones: forged}, &resp); err != nil {
		t.Fatal(err)
	}

	// The posts are written while it waits; it joins and is handed its keys.
	net.write(first, posts[:20])
	open.Store(true)
	net.waitRouting()
	for _, s := range net.svcs {
		s.TriggerRepair()
	}
	// The holders get the tombstones too, and then new posts arrive.
	h2 := newAttacker(t, net.svcs...)
	for _, s := range net.svcs {
		var resp storeResponse
		if err := exchange(ctx, h2, s, StoreProtocol(net.name), &storeRequest{Tombstones: forged}, &resp); err != nil {
			t.Fatal(err)
		}
	}
	net.write(net.svcs[1], posts[20:])
	want := keyCounts(posts)
	poll.Until(t, "every post at every true owner of its keys", 30*time.Second, 100*time.Millisecond, func() bool {
		return net.misplaced(want) == 0
	})
	wrong := 0.0
	for _, s := range net.svcs {
		wrong += refusedCount(s.cfg.Metrics, metrics.ProtocolStore, metrics.RefusedWrongAuthor)
	}
	if wrong == 0 {
		t.Error("no forged tombstone was counted as refused")
	}
}

// lieInStats makes liar answer the stats protocol, from the next request
// on, with its honest answer as lie changes it.
func (net *testNetwork) lieInStats(liar *Service, lie func(*statsRequest, *statsResponse)) {
	liar.Host().SetStreamHandler(StatsProtocol(net.name), func(st network.Stream) {
		defer st.Close()
		var req statsRequest
		if _, err := readMessage(st, &req); err != nil {
			st.Reset()
			return
		}
		resp := liar.answerStats(&req)
		lie(&req, resp)
		_, _ = writeMessage(st, resp)
	})
	ResetStreams(liar.Host(), StatsProtocol(net.name))
}

// addWith starts one more service like add, with tweak applied last.
func (net *testNetwork) addWith(tweak func(*Config)) *Service {
	prev := net.cfg
	net.cfg = func(c *Config) {
		if prev != nil {
			prev(c)
		}
		tweak(c)
	}
	defer func() { net.cfg = prev }()
	return net.add()
}

// TestIdleStreamsStarveNothing: an attacker opens many streams of every
// protocol and sends nothing on them. Honest store, sync and stats
// requests are still served at once, and the idle streams are closed and
// counted after RequestReadTimeout.
func TestIdleStreamsStarveNothing(t *testing.T) {
	s, _, m := startService(t)
	h := newAttacker(t, s)
	ctx := context.Background()
	var idle []network.Stream
	for _, proto := range []protocol.ID{StoreProtocol(s.Network()), SyncProtocol(s.Network()), StatsProtocol(s.Network())} {
		for range 40 {
			st, err := h.NewStream(ctx, s.ID(), proto)
			if err != nil {
				break // the resource manager refused more: as it should
			}
			st.Write([]byte{0x10}) // a length prefix, then nothing
			idle = append(idle, st)
		}
	}
	t.Logf("%d idle streams open", len(idle))
	honest := newAttacker(t, s)
	goodRaw, _ := json.Marshal(signPosts(t, 1, func(int) string { return "an honest post about herons" })[0])
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var sresp storeResponse
	if err := exchange(cctx, honest, s, StoreProtocol(s.Network()), &storeRequest{Posts: []storeItem{{Post: goodRaw, Keys: []string{"t/herons"}}}}, &sresp); err != nil || sresp.Posts[0].Error != "" {
		t.Fatalf("an honest store request beside idle streams: %+v, %v", sresp, err)
	}
	var yresp syncResponse
	if err := exchange(cctx, honest, s, SyncProtocol(s.Network()), &syncRequest{Digests: []Digest{{Key: "t/herons"}}}, &yresp); err != nil {
		t.Fatalf("an honest sync request beside idle streams: %v", err)
	}
	var tresp statsResponse
	if err := exchange(cctx, honest, s, StatsProtocol(s.Network()), &statsRequest{Keys: []string{"t/herons"}}, &tresp); err != nil || len(tresp.Counts) != 1 || tresp.Counts[0] != 1 {
		t.Fatalf("an honest stats request beside idle streams: %+v, %v", tresp, err)
	}
	poll.Until(t, "idle streams refused as slow", 2*RequestReadTimeout, 100*time.Millisecond, func() bool {
		return refusedCount(m, metrics.ProtocolStore, metrics.RefusedSlowRequest) > 0 &&
			refusedCount(m, metrics.ProtocolSync, metrics.RefusedSlowRequest) > 0 &&
			refusedCount(m, metrics.ProtocolStats, metrics.RefusedSlowRequest) > 0
	})
	for _, st := range idle {
		st.Reset()
	}
}

// TestSyncFloodIsBounded: a sync request that names a large key 20,000
// times is answered at once (a lookup per ID, not a scan of the key per
// list), and a flood of them is cut off by the peer's work budget.
func TestSyncFloodIsBounded(t *testing.T) {
	s, ix, m := startService(t)
	posts := signPosts(t, 3000, func(i int) string { return fmt.Sprintf("heron number %d", i) })
	if _, err := ix.Put(context.Background(), posts...); err != nil {
		t.Fatal(err)
	}
	h := newAttacker(t, s)
	lists := make([]KeyIDs, MaxIDsPerSync)
	for i := range lists {
		lists[i] = KeyIDs{Key: "t/heron", IDs: []string{posts[i%len(posts)].ID}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	var resp syncResponse
	if err := exchange(ctx, h, s, SyncProtocol(s.Network()), &syncRequest{Lists: lists}, &resp); err != nil {
		t.Fatalf("a sync request naming a key of 3,000 posts 20,000 times was not answered within 10 s: %v", err)
	}
	if len(resp.Missing) != 0 {
		t.Fatalf("the node says it lacks posts it holds: %d lists", len(resp.Missing))
	}
	t.Logf("answered in %v", time.Since(start).Round(time.Millisecond))
	// A flood, four requests at a time: the node answers no more than its
	// work budget allows over the flood, and refuses the rest.
	var answered atomic.Int32
	flood := 2 * SyncWorkBurst / MaxIDsPerSync
	start = time.Now()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < flood; i += 4 {
				rctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				var resp syncResponse
				if err := exchange(rctx, h, s, SyncProtocol(s.Network()), &syncRequest{Lists: lists}, &resp); err == nil {
					answered.Add(1)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	bound := (SyncWorkBurst+SyncWorkRate*took.Seconds())/MaxIDsPerSync + 1
	if n := float64(answered.Load()); n > bound {
		t.Fatalf("a flood of %d sync requests of %d IDs: %v answered in %v, over the work budget's %.1f", flood, MaxIDsPerSync, n, took, bound)
	}
	if took < 5*time.Second && refusedCount(m, metrics.ProtocolSync, metrics.RefusedWorkBudget) == 0 {
		t.Fatalf("a flood of %d sync requests in %v was never cut by the work budget", flood, took)
	}
	t.Logf("flood: %d of %d answered in %v (budget %.1f)", answered.Load(), flood, took.Round(time.Millisecond), bound)
}

// TestWritesAreBounded: a node takes posts only under keys it owns (or is
// about to), only so many new posts per author, and none once its disk is
// under the free-space watermark; each refusal has a reason the sender
// sees and the node counts.
func TestWritesAreBounded(t *testing.T) {
	net := startNetwork(t, 8, func(c *Config) {
		c.Metrics = metrics.New()
		c.AuthorRate, c.AuthorBurst = 1, 10
	})
	target := net.svcs[3]
	m := target.cfg.Metrics
	h := newAttacker(t, target)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Unowned keys: words whose keys the target is far from.
	var owned, unowned []string
	for i := 0; len(owned) < 5 || len(unowned) < 5; i++ {
		w := fmt.Sprintf("word%d", i)
		if rankOf(net, "t/"+w, target.ID()) < target.cfg.Replicas {
			owned = append(owned, w)
		} else if rankOf(net, "t/"+w, target.ID()) >= target.cfg.Replicas+OwnerMargin {
			unowned = append(unowned, w)
		}
	}
	old := time.Now().Add(-48 * time.Hour)
	key := testkit.Key(t)
	sign := func(text string, at time.Time) *post.Post {
		p, err := post.Sign(key, post.Draft{Text: text, CreatedAt: at}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	send := func(ps []*post.Post, keys func(*post.Post) []string) storeResponse {
		t.Helper()
		req := storeRequest{}
		for _, p := range ps {
			raw, _ := json.Marshal(p)
			req.Posts = append(req.Posts, storeItem{Post: raw, Keys: keys(p)})
		}
		var resp storeResponse
		if err := exchange(ctx, h, target, StoreProtocol(net.name), &req, &resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	allKeys := func(p *post.Post) []string { return keyspace.Keys(p) }
	var stray []*post.Post
	for i, w := range unowned {
		stray = append(stray, sign(fmt.Sprintf("%s %d", w, i), old))
	}
	resp := send(stray, func(p *post.Post) []string { return keyspace.TermKeys(strings.Fields(p.Text)[0]) })
	for i, r := range resp.Posts {
		if r.Error == "" || r.Reason != metrics.RefusedNotOwner {
			t.Errorf("post %d under a key the node does not own: %+v, want refused as not_owner", i, r)
		}
	}
	mixed := sign(owned[0]+" "+unowned[0], old)
	resp = send([]*post.Post{mixed}, allKeys)
	if r := resp.Posts[0]; r.Error != "" || len(r.NotOwned) == 0 {
		t.Errorf("a post under owned and unowned keys: %+v, want it stored with the unowned keys named", r)
	}
	if n := refusedCount(m, metrics.ProtocolStore, metrics.RefusedNotOwner); n < float64(len(unowned)) {
		t.Errorf("not_owner refusals counted %v, want at least %d", n, len(unowned))
	}

	// One author's new posts: the burst, then refusals; its old posts (what
	// repair hands over) are not charged.
	var fresh, older []*post.Post
	for i := range 15 {
		fresh = append(fresh, sign(fmt.Sprintf("%s fresh %d", owned[1], i), time.Now().Add(-time.Minute)))
		older = append(older, sign(fmt.Sprintf("%s older %d", owned[1], i), old))
	}
	resp = send(fresh, allKeys)
	limited := 0
	for _, r := range resp.Posts {
		if r.Reason == metrics.RefusedAuthorRate {
			limited++
		}
	}
	if limited < 4 || limited > 5 { // a burst of 10, and a token a second
		t.Errorf("%d of 15 fresh posts of one author refused for its rate, want 5 (4 if a token came back meanwhile)", limited)
	}
	resp = send(older, allKeys)
	for i, r := range resp.Posts {
		if r.Error != "" {
			t.Errorf("old post %d refused: %+v", i, r)
		}
	}

	// The disk watermark: above the free space, nothing new is stored.
	full, ixFull, mFull := startServiceWith(t, func(c *index.Config) { c.MinFreeBytes = 1 << 62 })
	hf := newAttacker(t, full)
	p := sign(owned[2]+" on a full disk", old)
	raw, _ := json.Marshal(p)
	var fr storeResponse
	if err := exchange(ctx, hf, full, StoreProtocol(full.Network()), &storeRequest{Posts: []storeItem{{Post: raw, Keys: keyspace.Keys(p)}}}, &fr); err != nil {
		t.Fatal(err)
	}
	if r := fr.Posts[0]; r.Reason != metrics.RefusedDiskFull {
		t.Errorf("a post to a node under its disk watermark: %+v, want refused as disk_full", r)
	}
	if n, _ := ixFull.DocCount(); n != 0 {
		t.Errorf("the full node stored %d posts", n)
	}
	if refusedCount(mFull, metrics.ProtocolStore, metrics.RefusedDiskFull) != 1 {
		t.Error("disk_full refusal not counted")
	}
}

// rankOf is the place of id among the services closest to key (0 is the
// closest).
func rankOf(net *testNetwork, key string, id peer.ID) int {
	ms := make([]member, len(net.svcs))
	for i, s := range net.svcs {
		ms[i] = member{id: s.ID(), kb: kb.ConvertPeerID(s.ID())}
	}
	for i, p := range closest(ms, kbKey(key), len(ms)) {
		if p == id {
			return i
		}
	}
	return -1
}

// TestNewcomersAreNotLockedOut: a flood of fresh identities fills the
// per-peer limiter; a newcomer still gets its requests through.
func TestNewcomersAreNotLockedOut(t *testing.T) {
	lim := newPeerLimiter(1, 1)
	for i := range maxTrackedPeers + 100 {
		lim.Allow(peer.ID(fmt.Sprintf("sybil-%d", i)))
	}
	if !lim.Allow(peer.ID("newcomer")) {
		t.Fatal("a new peer was refused once the limiter tracked many others")
	}
	if lim.Allow(peer.ID("newcomer")) {
		t.Fatal("the newcomer's rate is not enforced")
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 1000 {
				lim.Allow(peer.ID(fmt.Sprintf("racer-%d-%d", i, j)))
			}
		}()
	}
	wg.Wait()
}

// TestPoisonedStatisticsAreOutvoted: one node of six answers statistics
// requests with lies: its groups' figures inflated a thousandfold, a group
// it invents with strangers, key counts inflated. The network's totals and
// every key's count stay the honest ones, and the liar is counted; an
// answer beyond any bound is refused at decode and counted too.
func TestPoisonedStatisticsAreOutvoted(t *testing.T) {
	net := startNetwork(t, 6, func(c *Config) { c.Metrics = metrics.New() })
	posts := signPosts(t, 60, func(i int) string {
		return fmt.Sprintf("poisoned totals sample %d: gull, tern and the %d waves", i, i%7)
	})
	querier, liar := net.svcs[0], net.svcs[4]
	net.write(querier, posts)
	want := keyCounts(posts)
	poll.Until(t, "every copy placed", 30*time.Second, 100*time.Millisecond, func() bool { return net.misplaced(want) == 0 })
	ctx := context.Background()
	coord := coordinator(t, querier)
	honest := coord.Refresh(ctx)
	if honest.Posts != uint64(len(posts)) || honest.Outvoted != 0 {
		t.Fatalf("honest totals %+v, want %d posts and nobody outvoted", honest, len(posts))
	}
	var liarKeys []string
	for k := range want {
		if slices.Contains(net.trueOwners(k), liar.ID()) {
			liarKeys = append(liarKeys, k)
		}
	}
	if len(liarKeys) == 0 {
		t.Fatal("the liar owns no key; the test proves nothing")
	}

	stranger := newAttacker(t).ID().String()
	net.lieInStats(liar, func(_ *statsRequest, resp *statsResponse) {
		for i := range resp.Counts {
			resp.Counts[i] = resp.Counts[i]*1000 + 1000
		}
		if resp.Summary != nil {
			lie := *resp.Summary
			lie.Groups = slices.Clone(lie.Groups)
			for i := range lie.Groups {
				lie.Groups[i].Posts = lie.Groups[i].Posts*1000 + 1000
				lie.Groups[i].Terms = lie.Groups[i].Terms*1000 + 1000
			}
			lie.Groups = append(lie.Groups, netsearch.GroupFigures{Owners: []string{liar.ID().String(), stranger}, Posts: 1 << 30, Terms: 1 << 30})
			resp.Summary = &lie
		}
	})
	poisoned := coord.Refresh(ctx)
	if poisoned.Posts != honest.Posts || poisoned.Terms != honest.Terms {
		t.Errorf("totals under poisoned statistics: %+v; want the honest %+v", poisoned, honest)
	}
	if poisoned.Outvoted+poisoned.Implausible == 0 {
		t.Errorf("the liar was not counted: %+v", poisoned)
	}
	counts := coord.KeyCounts(ctx, liarKeys)
	for _, k := range liarKeys {
		if counts[k] != want[k] {
			t.Errorf("count of %s (the liar is an owner): %d, want %d", k, counts[k], want[k])
		}
	}

	// Beyond any bound: refused at decode, counted, and the totals hold.
	net.lieInStats(liar, func(_ *statsRequest, resp *statsResponse) {
		for i := range resp.Counts {
			resp.Counts[i] = -1
		}
		if resp.Summary != nil {
			resp.Summary.Groups = append(resp.Summary.Groups, netsearch.GroupFigures{Owners: []string{liar.ID().String()}, Posts: 1 << 50})
		}
	})
	before := refusedCount(querier.cfg.Metrics, metrics.ProtocolStats, metrics.RefusedImplausible)
	if again := coord.Refresh(ctx); again.Posts != honest.Posts || again.Terms != honest.Terms {
		t.Errorf("totals with an implausible answer: %+v; want the honest %+v", again, honest)
	}
	counts = coord.KeyCounts(ctx, liarKeys)
	for _, k := range liarKeys {
		if counts[k] != want[k] {
			t.Errorf("count of %s with an implausible answer: %d, want %d", k, counts[k], want[k])
		}
	}
	if after := refusedCount(querier.cfg.Metrics, metrics.ProtocolStats, metrics.RefusedImplausible); after <= before {
		t.Error("implausible answers were not counted")
	}
}

// TestRepeatOffendersAreCutOff: a peer that keeps sending requests the node
// refuses (here, garbage as fast as it can) is disconnected and may not
// connect again for BanDuration; another peer is served meanwhile.
func TestRepeatOffendersAreCutOff(t *testing.T) {
	s, _, m := startService(t)
	h := newAttacker(t, s)
	ctx := context.Background()
	junk := []byte{0x03, 'b', 'a', 'd'}
	cut := false
	for i := 0; i < 3*OffenceBurst && !cut; i++ {
		st, err := h.NewStream(ctx, s.ID(), StoreProtocol(s.Network()))
		if err != nil {
			cut = true
			break
		}
		st.Write(junk)
		st.CloseWrite()
		st.Read(make([]byte, 1))
		st.Reset()
	}
	if !cut {
		t.Fatalf("%d refused requests in a row and the peer is still connected", 3*OffenceBurst)
	}
	if got := refusedCount(m, metrics.ProtocolConn, metrics.RefusedBanned); got != 1 {
		t.Errorf("bans counted: %v, want 1", got)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	h.Peerstore().AddAddrs(s.ID(), s.Host().Addrs(), time.Minute)
	if err := h.Connect(cctx, peer.AddrInfo{ID: s.ID(), Addrs: s.Host().Addrs()}); err == nil {
		if _, err := h.NewStream(cctx, s.ID(), StoreProtocol(s.Network())); err == nil {
			t.Fatal("the banned peer connected again and opened a stream")
		}
	}
	honest := newAttacker(t, s)
	var tresp statsResponse
	if err := exchange(cctx, honest, s, StatsProtocol(s.Network()), &statsRequest{Keys: []string{"t/herons"}}, &tresp); err != nil {
		t.Fatalf("another peer after the ban: %v", err)
	}
}
