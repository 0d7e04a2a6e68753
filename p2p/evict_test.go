package p2p

import (
	"context"
	"crypto/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/murmur-p2p/murmur/post"
)

// TestJoinsLeaveOldOwnersWithOnlyWhatTheyOwn: 4 nodes hold 80 posts at
// their owners; 6 nodes join. Once the new owners hold their keys, the old
// ones drop every copy of a post they own no key of, and every key still
// has its R copies at its true owners.
func TestJoinsLeaveOldOwnersWithOnlyWhatTheyOwn(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the settling window after joins (a minute); skipped with -short")
	}
	net := startNetwork(t, 4, func(c *Config) {
		c.RepairInterval = time.Second
		c.EvictInterval = time.Second
	})
	writer := net.svcs[0]
	// Two words a post, so that a node owns no key of many posts.
	words := strings.Fields("river oak meadow lantern harbor thistle granite willow ember falcon orchard tide")
	authorKey, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	posts := make([]*post.Post, 80)
	for i := range posts {
		text := words[i%len(words)] + " " + words[(i/len(words)+i+1)%len(words)]
		p, err := post.Sign(authorKey, post.Draft{Text: text, CreatedAt: time.Now().Add(-time.Duration(i) * time.Second)}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		posts[i] = p
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
	want := map[string]int{}
	for _, p := range posts {
		for _, k := range Keys(p) {
			want[k]++
		}
	}
	atOwners := func() (short int) {
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
	// held lists, per service, the posts it holds and owns no key of.
	strays := func() (stray, copies int) {
		for _, s := range net.svcs {
			err := s.cfg.Store.Walk(ctx, func(p *post.Post) error {
				copies++
				for _, k := range Keys(p) {
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
	waitUntil(t, "every key at its owners", time.Minute, func() bool { return atOwners() == 0 })
	_, copies0 := strays()

	for range 6 {
		net.add()
	}
	net.waitRouting()
	// The new owners get their keys at once; the old ones wait out the
	// settling window (a minute) before they drop anything.
	start := time.Now()
	waitUntil(t, "new owners hold their keys", time.Minute, func() bool { return atOwners() == 0 })
	handedOver := time.Since(start)
	strayBefore, copiesBefore := strays()
	if strayBefore == 0 {
		t.Fatalf("no node holds a post it owns no key of after the joins (%d copies); the test proves nothing", copiesBefore)
	}
	var stray, copies int
	waitUntil(t, "old owners drop the posts they own no key of", 4*time.Minute, func() bool {
		stray, copies = strays()
		return stray == 0 && atOwners() == 0
	})
	t.Logf("4 nodes: %d copies; 6 joined: every key at its new owners in %v, %d copies of which %d stray; after %v: %d copies, none stray, every key at its %d owners",
		copies0, handedOver.Round(time.Millisecond), copiesBefore, strayBefore, time.Since(start).Round(time.Second), copies, writer.cfg.Replicas)
}

// waitUntil polls cond every 100 ms until it holds, or fails the test after
// timeout.
func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
