package testnet_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/testnet"
)

// liveStream follows q on a node's API in the background.
type liveStream struct {
	events chan liveEvent
	cancel context.CancelFunc
	done   chan error
}

type liveEvent struct {
	id  string
	hit api.Hit
}

func follow(c *api.Client, q, lastID string) *liveStream {
	ctx, cancel := context.WithCancel(context.Background())
	s := &liveStream{events: make(chan liveEvent, 1000), cancel: cancel, done: make(chan error, 1)}
	go func() {
		_, err := c.Stream(ctx, url.Values{"q": {q}}, lastID, func(id string, h api.Hit) error {
			s.events <- liveEvent{id, h}
			return nil
		})
		s.done <- err
	}()
	return s
}

func (s *liveStream) stop() {
	s.cancel()
	<-s.done
}

// take waits for n events, then for any more within quiet.
func (s *liveStream) take(t *testing.T, n int, quiet time.Duration) []liveEvent {
	t.Helper()
	var got []liveEvent
	deadline := time.After(30 * time.Second)
	for len(got) < n {
		select {
		case e := <-s.events:
			got = append(got, e)
		case err := <-s.done:
			t.Fatalf("stream ended after %d of %d events: %v", len(got), n, err)
		case <-deadline:
			t.Fatalf("stream delivered %d of %d events in 30 s", len(got), n)
		}
	}
	for {
		select {
		case e := <-s.events:
			got = append(got, e)
		case <-time.After(quiet):
			return got
		}
	}
}

// TestLiveSearchAcrossTheNetwork: a stream on one node gets every
// matching post written on two others, once, and none that does not match;
// with an owner of the routed key killed the remaining owners push; a
// subscriber that comes back with its last event ID misses nothing written
// while it was away.
func TestLiveSearchAcrossTheNetwork(t *testing.T) {
	net := testnet.Start(t, 6, testnet.Options{})
	ctx := context.Background()
	sub, b, c := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	const word = "kingfisher"
	key := keyspace.TermKeys(word)[0]
	owners, err := sub.Net().Owners(ctx, key)
	if err != nil || len(owners) != 3 {
		t.Fatalf("owners of %s: %v %v", key, owners, err)
	}
	standing := func() int {
		n := 0
		for _, nd := range net.Alive() {
			n += nd.Net().Live().Len()
		}
		return n
	}

	// A query no key routes is refused, with a message.
	if _, err := sub.API.Stream(ctx, url.Values{"q": {"king*"}}, "", nil); err == nil || !errors.As(err, new(*api.Error)) {
		t.Fatalf("a prefix-only live search: %v, want a 400", err)
	}

	s := follow(sub.API, word+" -heron", "")
	net.WaitFor("the standing search at the owners", 20*time.Second, func() bool { return standing() >= 3 })
	write := func(nd *testnet.Member, text string) *post.Post {
		t.Helper()
		p, err := nd.Publish(ctx, post.Draft{Text: text})
		if err != nil {
			t.Fatalf("publish on node %d: %v", nd.Index, err)
		}
		return p
	}
	var want []string
	for i := range 4 {
		want = append(want, write(b, fmt.Sprintf("a %s dives, note %d from b", word, i)).ID)
		want = append(want, write(c, fmt.Sprintf("the %s sits, note %d from c", word, i)).ID)
		write(b, fmt.Sprintf("a sparrow sings, note %d", i))            // another word
		write(c, fmt.Sprintf("a %s watches a heron, note %d", word, i)) // excluded by -heron
	}
	got := s.take(t, len(want), 2*time.Second)
	ids := func(es []liveEvent) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.hit.ID)
		}
		return out
	}
	if g := ids(got); !sameIDs(g, want) {
		t.Fatalf("stream delivered %d posts %v; want the %d matches %v, each once", len(g), g, len(want), want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].hit.CreatedAt.Before(got[i-1].hit.CreatedAt) {
			t.Errorf("delivered out of time order: %v after %v", got[i].hit.CreatedAt, got[i-1].hit.CreatedAt)
		}
	}
	for _, e := range got {
		if err := e.hit.Post().Verify(time.Now()); err != nil {
			t.Errorf("streamed hit %s does not verify: %v", e.hit.ID, err)
		}
	}

	// Kill one owner of the key (neither the subscriber nor a writer): the
	// others still push.
	killed := -1
	for _, nd := range net.Nodes {
		if nd != sub && nd != b && nd != c && slices.Contains(owners, nd.Net().ID()) {
			killed = nd.Index
			break
		}
	}
	if killed < 0 {
		t.Logf("every owner of %s is the subscriber or a writer; none killed", key)
	} else {
		net.Kill(killed)
		t.Logf("killed owner node %d", killed)
	}
	want = want[:0]
	for i := range 3 {
		want = append(want, write(b, fmt.Sprintf("%s after an owner died, %d", word, i)).ID)
	}
	got = s.take(t, len(want), time.Second)
	if g := ids(got); !sameIDs(g, want) {
		t.Fatalf("after an owner died the stream delivered %v; want %v", g, want)
	}
	last := got[len(got)-1].id

	// The subscriber goes away; posts are written; it comes back with its
	// last event ID and gets them, then the new ones.
	s.stop()
	want = want[:0]
	for i := range 3 {
		want = append(want, write(c, fmt.Sprintf("%s while nobody listened, %d", word, i)).ID)
	}
	s = follow(sub.API, word+" -heron", last)
	defer s.stop()
	got = s.take(t, len(want), time.Second)
	if g := ids(got); !sameIDs(g, want) {
		t.Fatalf("resumed after %s, the stream delivered %v; want the %d written meanwhile %v", last, g, len(want), want)
	}
	net.WaitFor("the standing search again", 20*time.Second, func() bool { return standing() >= 2 })
	after := write(b, word+" once the subscriber was back").ID
	if g := ids(s.take(t, 1, time.Second)); !sameIDs(g, []string{after}) {
		t.Fatalf("after resuming the stream delivered %v; want %s", g, after)
	}
}

// sameIDs reports whether got holds each of want exactly once and nothing
// else.
func sameIDs(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}
