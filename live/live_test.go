package live

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
)

func sign(t *testing.T, text string, at time.Time) *post.Post {
	t.Helper()
	p, err := post.Sign(testkit.Key(t), post.Draft{Text: text}, at)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func prepare(t *testing.T, q string) *query.Prepared {
	t.Helper()
	p, err := query.Prepare(query.Request{Q: q})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRegistryFollowsASplitTermToItsLeaves: a standing search of a split
// term kept under a node of its trie gets the posts the owner stores under
// that node (Registry.KeysOf), which keyspace.Keys, knowing no split, never
// names.
func TestRegistryFollowsASplitTermToItsLeaves(t *testing.T) {
	now := time.Now()
	p := sign(t, "a heron at dawn", now)
	leaf := keyspace.Node{Class: keyspace.ClassTerm, Value: "heron", Month: keyspace.MonthOf(p.CreatedAt)}.String()
	for _, knowsSplit := range []bool{false, true} {
		r := NewRegistry()
		if knowsSplit {
			r.KeysOf = func(*post.Post) []string { return []string{leaf} }
		}
		sub, err := r.Add("a", leaf, prepare(t, "heron").Expr)
		if err != nil {
			t.Fatal(err)
		}
		r.Offer(p)
		if got := len(sub.Pushes); got != map[bool]int{false: 0, true: 1}[knowsSplit] {
			t.Errorf("with the split known %v: %d pushes to the search kept under %s", knowsSplit, got, leaf)
		}
	}
}

// TestRegistryPushesMatchesWithinBounds: an owner pushes a stored post to
// each standing search of its keys that it matches, once, and keeps no
// more searches, and pushes no faster, than its bounds allow.
func TestRegistryPushesMatchesWithinBounds(t *testing.T) {
	r := NewRegistry()
	key := keyspace.TermKeys("otter")[0]
	otter, _ := r.Add("a", key, prepare(t, "otter").Expr)
	notRiver, _ := r.Add("b", key, prepare(t, "otter -river").Expr)
	now := time.Now()
	sea := sign(t, "an otter in the sea", now)
	river := sign(t, "an otter in the river", now)
	other := sign(t, "a heron in the river", now)
	r.Offer(sea, river, other)
	r.Offer(sea) // handed again by repair: not pushed again
	if len(otter.Pushes) != 2 || len(notRiver.Pushes) != 1 {
		t.Fatalf("pushes: %d and %d, want 2 and 1", len(otter.Pushes), len(notRiver.Pushes))
	}
	var got post.Post
	if err := json.Unmarshal(<-notRiver.Pushes, &got); err != nil || got.ID != sea.ID || got.Verify(now) != nil {
		t.Fatalf("pushed %+v (%v); want the signed post %s", got, err, sea.ID)
	}

	// A flood of matches: the search's queue and rate bound what is kept.
	dropped := 0
	r.OnDrop = func() { dropped++ }
	for i := range 2 * PushBurst {
		r.Offer(sign(t, "otter flood "+string(rune('a'+i%26)), now.Add(time.Duration(i)*time.Millisecond)))
	}
	if len(otter.Pushes) > QueueLen || otter.Dropped() == 0 || dropped == 0 {
		t.Fatalf("a flood left %d queued and %d dropped; want at most %d queued and the rest dropped", len(otter.Pushes), otter.Dropped(), QueueLen)
	}

	// Bounds on the searches kept.
	for range MaxPerPeer - 1 {
		if _, err := r.Add("a", key, prepare(t, "otter").Expr); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Add("a", key, prepare(t, "otter").Expr); !errors.Is(err, ErrFull) {
		t.Fatalf("search %d of one peer: %v, want ErrFull", MaxPerPeer+1, err)
	}
	r.Remove(otter)
	if _, err := r.Add("a", key, prepare(t, "otter").Expr); err != nil {
		t.Fatalf("after one was removed: %v", err)
	}
	for i := 0; r.Len() < MaxTotal; i++ {
		if _, err := r.Add(string(rune(0x1000+i/MaxPerPeer)), key, prepare(t, "otter").Expr); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Add("z", key, prepare(t, "otter").Expr); !errors.Is(err, ErrFull) {
		t.Fatalf("search %d in all: %v, want ErrFull", MaxTotal+1, err)
	}
}

// fakeOwners push, from each of three owners, what the test gives them.
type fakeOwners struct {
	ids    []peer.ID
	mu     sync.Mutex
	pushes map[peer.ID][]json.RawMessage
	ready  sync.WaitGroup
}

func (f *fakeOwners) Owners(context.Context, string) ([]peer.ID, error) { return f.ids, nil }

func (f *fakeOwners) Subscribe(ctx context.Context, p peer.ID, req Request, accepted func(), push func(json.RawMessage)) error {
	accepted()
	f.mu.Lock()
	raws := f.pushes[p]
	f.pushes[p] = nil
	f.mu.Unlock()
	for _, raw := range raws {
		push(raw)
	}
	if raws != nil {
		f.ready.Done()
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestFollowKeepsOnlyVerifiedMatchesOnce: three owners push the same
// matches, one of them also a forged post, a post that does not match and
// one outside the key; the subscriber delivers each match once, in time
// order, and nothing else.
func TestFollowKeepsOnlyVerifiedMatchesOnce(t *testing.T) {
	now := time.Now()
	late := sign(t, "an otter, written last", now.Add(time.Second))
	early := sign(t, "an otter, written first", now)
	forged := sign(t, "an otter that was never signed so", now)
	forged.Text = "an otter: the text changed after signing"
	nomatch := sign(t, "an otter in the river", now)
	elsewhere := sign(t, "a heron alone", now)
	enc := func(ps ...*post.Post) []json.RawMessage {
		var out []json.RawMessage
		for _, p := range ps {
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		return out
	}
	var ids []peer.ID
	for range 3 {
		id, err := peer.IDFromPrivateKey(testkit.Key(t))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	f := &fakeOwners{ids: ids, pushes: map[peer.ID][]json.RawMessage{
		ids[0]: enc(late, early),
		ids[1]: enc(early, late, forged, nomatch, elsewhere),
		ids[2]: enc(late),
	}}
	f.ready.Add(3)
	p := prepare(t, "otter -river")
	keys, err := keyspace.ParseAll(keyspace.TermKeys("otter"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out, ready := Follow(ctx, f, p, Request{Query: "otter -river"}, keys, slog.New(slog.DiscardHandler))
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the owners kept the search but Follow never said it was ready")
	}
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < 2 {
		select {
		case pp := <-out:
			got = append(got, pp.ID)
		case <-timeout:
			t.Fatalf("delivered %v in 10 s", got)
		}
	}
	f.ready.Wait()
	select {
	case pp := <-out:
		t.Fatalf("delivered %s (%q) besides the two matches", pp.ID, pp.Text)
	case <-time.After(2 * ReorderDelay):
	}
	if got[0] != early.ID || got[1] != late.ID {
		t.Fatalf("delivered %v; want %s then %s", got, early.ID, late.ID)
	}
	cancel()
	for range out {
	}
}

// floodingOwner pushes n posts at once, then holds the stream until its
// subscriber ends it.
type floodingOwner struct {
	id    peer.ID
	posts []json.RawMessage
	cut   chan struct{}
}

func (f *floodingOwner) Owners(context.Context, string) ([]peer.ID, error) {
	return []peer.ID{f.id}, nil
}

func (f *floodingOwner) Subscribe(ctx context.Context, _ peer.ID, _ Request, accepted func(), push func(json.RawMessage)) error {
	accepted()
	for _, raw := range f.posts {
		push(raw)
	}
	<-ctx.Done()
	select {
	case f.cut <- struct{}{}:
	default:
	}
	return ctx.Err()
}

// TestFollowCutsOffAFloodingOwner: an owner that pushes far more than an
// owner may (each push costs the subscriber a signature check) has its
// stream cut by the subscriber, which stays subscribed otherwise.
func TestFollowCutsOffAFloodingOwner(t *testing.T) {
	id, err := peer.IDFromPrivateKey(testkit.Key(t))
	if err != nil {
		t.Fatal(err)
	}
	k := testkit.Key(t)
	f := &floodingOwner{id: id, cut: make(chan struct{}, 1)}
	now := time.Now()
	for i := range 4 * PushBurst {
		p, err := post.Sign(k, post.Draft{Text: "otter flood"}, now.Add(time.Duration(i)*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(p)
		f.posts = append(f.posts, raw)
	}
	keys, _ := keyspace.ParseAll(keyspace.TermKeys("otter"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, _ := Follow(ctx, f, prepare(t, "otter"), Request{Query: "otter"}, keys, slog.New(slog.DiscardHandler))
	go func() {
		for range out {
		}
	}()
	select {
	case <-f.cut:
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber kept the stream of an owner that pushed 4 bursts at once")
	}
	if ctx.Err() != nil {
		t.Fatal("the whole subscription ended, not the owner's stream")
	}
}
