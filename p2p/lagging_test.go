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

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/post"
)

// startNetwork starts n services of one network, each joined through the
// first, with periodic repair and full syncs an hour apart, and waits until
// every routing table holds every other service.
func startNetwork(t *testing.T, n int) []*Service {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	name := fmt.Sprintf("lagging-%d", time.Now().UnixNano())
	var out []*Service
	for i := 0; i < n; i++ {
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
		cfg := Config{Key: key, Network: name, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Store: ix, Holdings: hold, Logger: log,
			RepairInterval: time.Hour, FullSyncInterval: time.Hour}
		if i > 0 {
			first := out[0]
			cfg.Bootstrap = func() []peer.AddrInfo {
				return []peer.AddrInfo{{ID: first.ID(), Addrs: first.Host().Addrs()}}
			}
		}
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range out {
		for s.RoutingTableSize() < n-1 {
			if time.Now().After(deadline) {
				t.Fatalf("routing tables incomplete after 30s: %d of %d peers", s.RoutingTableSize(), n-1)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return out
}

// TestOwnerThatMissedAWriteGetsItFromRepair: a write reaches W owners while
// a third refuses it; the writer has repair deliver the missing copy at
// once, not at the next full sync an hour later.
func TestOwnerThatMissedAWriteGetsItFromRepair(t *testing.T) {
	svcs := startNetwork(t, 4)
	writer, deaf := svcs[0], svcs[3]
	// Let the repair passes that membership changes set off run first.
	time.Sleep(2 * repairDebounce)

	deaf.Host().SetStreamHandler(StoreProtocol(deaf.cfg.Network), func(st network.Stream) { st.Reset() })
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var posts []*post.Post
	for i := 0; i < 20; i++ {
		p, err := post.Sign(key, post.Draft{Text: fmt.Sprintf("lagging owner sample %d about gardens and rivers", i)}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		posts = append(posts, p)
	}
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
