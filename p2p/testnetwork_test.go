package p2p

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// discard is the logger of test services.
var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// openStore opens a service's index in a temporary directory, with the
// holdings its callbacks keep.
func openStore(t *testing.T, tweak ...func(*index.Config)) (*index.Index, *Holdings) {
	t.Helper()
	hold := NewHoldings()
	cfg := index.Config{Dir: filepath.Join(t.TempDir(), "index"), Logger: discard, OnStored: hold.Add, OnDeleted: hold.Remove}
	for _, f := range tweak {
		f(&cfg)
	}
	ix, err := index.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix, hold
}

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
	ix, hold := openStore(t)
	cfg := Config{Key: testkit.Key(t), Network: net.name, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Store: ix, Holdings: hold, Logger: discard,
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
// A service whose table is still short after a while is asked to refresh
// it: one that joined before the last ones had, and looked itself up
// then, would otherwise learn of them only when they dial it.
func (net *testNetwork) waitRouting() {
	net.t.Helper()
	lastNudge := time.Now()
	poll.Until(net.t, "every routing table complete", 30*time.Second, 50*time.Millisecond, func() bool {
		nudge := time.Since(lastNudge) > 2*time.Second
		if nudge {
			lastNudge = time.Now()
		}
		complete := true
		for _, s := range net.svcs {
			if s.RoutingTableSize() < len(net.svcs)-1 {
				complete = false
				if nudge {
					s.RefreshRouting()
				}
			}
		}
		return complete
	})
}

// write stores posts on writer and places them at their owners, failing
// the test unless every key reached W owners.
func (net *testNetwork) write(writer *Service, posts []*post.Post) {
	t := net.t
	t.Helper()
	ctx := context.Background()
	if _, err := writer.cfg.Store.Put(ctx, posts...); err != nil {
		t.Fatal(err)
	}
	for i, err := range writer.Place(ctx, posts) {
		if err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
}

// trueOwners names the R services closest to key among all of them that
// serve the DHT (DHT clients own nothing).
func (net *testNetwork) trueOwners(key string) []peer.ID {
	ms := make([]member, 0, len(net.svcs))
	for _, s := range net.svcs {
		if s.OwnsKeys() {
			ms = append(ms, member{id: s.ID(), kb: kb.ConvertPeerID(s.ID())})
		}
	}
	return closest(ms, kbKey(key), net.svcs[0].cfg.Replicas)
}

// keyCounts counts the posts under each of their keys.
func keyCounts(posts []*post.Post) map[string]int {
	want := map[string]int{}
	for _, p := range posts {
		for _, k := range keyspace.Keys(p) {
			want[k]++
		}
	}
	return want
}

// notOwning is the last of the network's services that is none of owners,
// or nil.
func (net *testNetwork) notOwning(owners []peer.ID) *Service {
	var out *Service
	for _, s := range net.svcs {
		if !slices.Contains(owners, s.ID()) {
			out = s
		}
	}
	return out
}

// byID is the service of the network with the given ID, or nil.
func (net *testNetwork) byID(id peer.ID) *Service {
	for _, s := range net.svcs {
		if s.ID() == id {
			return s
		}
	}
	return nil
}

// misplaced counts the (key, true owner) pairs where the owner does not
// hold exactly the wanted number of posts under the key.
func (net *testNetwork) misplaced(want map[string]int) (short int) {
	for k, n := range want {
		for _, o := range net.trueOwners(k) {
			for _, s := range net.svcs {
				if s.ID() == o && s.hold.Count(k) != n {
					short++
				}
			}
		}
	}
	return short
}

// strays counts the copies that svcs hold of posts they own no key of,
// by keysOf, and all their copies.
func (net *testNetwork) strays(svcs []*Service, keysOf func(*post.Post) []string) (stray, copies int) {
	t := net.t
	t.Helper()
	for _, s := range svcs {
		err := s.cfg.Store.Walk(context.Background(), func(p *post.Post) error {
			copies++
			for _, k := range keysOf(p) {
				if slices.Contains(net.trueOwners(k), s.ID()) {
					return nil
				}
			}
			stray++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return stray, copies
}

// coordinator runs network searches from s, closed when the test ends.
func coordinator(t *testing.T, s *Service) *netsearch.Coordinator {
	c := netsearch.New(s, netsearch.Config{Logger: discard})
	t.Cleanup(c.Close)
	return c
}

// signPosts signs n posts, text(i) the i-th one's text, a second apart,
// with a key no service has, as if imported.
func signPosts(t *testing.T, n int, text func(i int) string) []*post.Post {
	t.Helper()
	key := testkit.Key(t)
	now := time.Now()
	posts := make([]*post.Post, n)
	for i := range posts {
		p, err := post.Sign(key, post.Draft{Text: text(i), CreatedAt: now.Add(-time.Duration(i) * time.Second)}, now)
		if err != nil {
			t.Fatal(err)
		}
		posts[i] = p
	}
	return posts
}
