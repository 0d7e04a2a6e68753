package p2p

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/post"
)

// testNetwork is a network of services in one process, for tests that
// need their internals.
type testNetwork struct {
	t    *testing.T
	name string
	cfg  func(*Config)
	svcs []*Service
}

// startNetwork starts n services of one network, each joined through the
// first, with periodic repair and full syncs an hour apart unless tweak
// says otherwise, and waits until every routing table holds every other
// service.
func startNetwork(t *testing.T, n int, tweak func(*Config)) *testNetwork {
	t.Helper()
	net := &testNetwork{t: t, name: fmt.Sprintf("p2ptest-%d", time.Now().UnixNano()), cfg: tweak}
	for i := 0; i < n; i++ {
		net.add()
	}
	net.waitRouting()
	return net
}

// add starts one more service, joined through the first.
func (net *testNetwork) add() *Service {
	t := net.t
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hold := NewHoldings()
	ix, err := index.Open(index.Config{Dir: filepath.Join(t.TempDir(), "index"), Logger: log, OnStored: hold.Add, OnDeleted: hold.Remove})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Key: key, Network: net.name, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Store: ix, Holdings: hold, Logger: log,
		RepairInterval: time.Hour, FullSyncInterval: time.Hour}
	if len(net.svcs) > 0 {
		first := net.svcs[0]
		cfg.Bootstrap = func() []peer.AddrInfo {
			return []peer.AddrInfo{{ID: first.ID(), Addrs: first.Host().Addrs()}}
		}
	}
	if net.cfg != nil {
		net.cfg(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	net.svcs = append(net.svcs, s)
	return s
}

// waitRouting waits until every routing table holds every other service.
func (net *testNetwork) waitRouting() {
	t := net.t
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range net.svcs {
		for s.RoutingTableSize() < len(net.svcs)-1 {
			if time.Now().After(deadline) {
				t.Fatalf("routing tables incomplete after 30s: %d of %d peers", s.RoutingTableSize(), len(net.svcs)-1)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// trueOwners names the R services closest to key among all of them.
func (net *testNetwork) trueOwners(key string) []peer.ID {
	ms := make([]member, len(net.svcs))
	for i, s := range net.svcs {
		ms[i] = member{id: s.ID(), kb: kb.ConvertPeerID(s.ID())}
	}
	return closest(ms, kbKey(key), net.svcs[0].cfg.Replicas)
}

// signPosts signs n posts with a key no service has, as if imported.
func signPosts(t *testing.T, n int, text string) []*post.Post {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var posts []*post.Post
	for i := 0; i < n; i++ {
		p, err := post.Sign(key, post.Draft{Text: fmt.Sprintf(text, i)}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		posts = append(posts, p)
	}
	return posts
}

// TestOwnerThatMissedAWriteGetsItFromRepair: a write reaches W owners while
// a third refuses it; the writer has repair deliver the missing copy at
// once, not at the next full sync an hour later.
func TestOwnerThatMissedAWriteGetsItFromRepair(t *testing.T) {
	net := startNetwork(t, 4, nil)
	writer, deaf := net.svcs[0], net.svcs[3]
	// Let the repair passes that membership changes set off run first.
	time.Sleep(2 * repairDebounce)

	deaf.Host().SetStreamHandler(StoreProtocol(deaf.cfg.Network), func(st network.Stream) { st.Reset() })
	posts := signPosts(t, 20, "lagging owner sample %d about gardens and rivers")
	ctx := context.Background()
	if _, err := writer.cfg.Store.Put(ctx, posts...); err != nil {
		t.Fatal(err)
	}
	for i, err := range writer.Place(ctx, posts) {
		if err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	// The keys the deaf owner should hold, and what it holds now.
	want := map[string]int{}
	for _, p := range posts {
		for _, k := range Keys(p) {
			owners, err := writer.Owners(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range owners {
				if o == deaf.ID() {
					want[k]++
				}
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("the deaf node owns none of the posts' keys; the test proves nothing")
	}
	missing := func() int {
		n := 0
		for k, c := range want {
			n += c - min(c, deaf.hold.Count(k))
		}
		return n
	}
	if m := missing(); m == 0 {
		t.Fatal("the deaf node holds every copy it refused")
	}
	deaf.Host().SetStreamHandler(StoreProtocol(deaf.cfg.Network), deaf.handleStore)
	deadline := time.Now().Add(30 * time.Second)
	for missing() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after 30s the deaf owner still lacks %d postings under %d keys", missing(), len(want))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
