package p2p

import (
	"strings"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/keyspace"
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
		c.SettleMargin = time.Minute
	})
	writer := net.svcs[0]
	// Two words a post, so that a node owns no key of many posts.
	words := strings.Fields("river oak meadow lantern harbor thistle granite willow ember falcon orchard tide")
	posts := signPosts(t, 80, func(i int) string {
		return words[i%len(words)] + " " + words[(i/len(words)+i+1)%len(words)]
	})
	net.write(writer, posts)
	want := keyCounts(posts)
	// strays counts the copies services hold of posts they own no key of,
	// and all the copies.
	strays := func() (stray, copies int) { return net.strays(net.svcs, keyspace.Keys) }
	poll.Until(t, "every key at its owners", time.Minute, 100*time.Millisecond, func() bool { return net.misplaced(want) == 0 })
	_, copies0 := strays()

	for range 6 {
		net.add()
	}
	net.waitRouting()
	// The new owners get their keys at once; the old ones wait out the
	// settling window (a minute) before they drop anything.
	start := time.Now()
	poll.Until(t, "new owners hold their keys", time.Minute, 100*time.Millisecond, func() bool { return net.misplaced(want) == 0 })
	handedOver := time.Since(start)
	strayBefore, copiesBefore := strays()
	if strayBefore == 0 {
		t.Fatalf("no node holds a post it owns no key of after the joins (%d copies); the test proves nothing", copiesBefore)
	}
	var stray, copies int
	poll.Until(t, "old owners drop the posts they own no key of", 4*time.Minute, 100*time.Millisecond, func() bool {
		stray, copies = strays()
		return stray == 0 && net.misplaced(want) == 0
	})
	t.Logf("4 nodes: %d copies; 6 joined: every key at its new owners in %v, %d copies of which %d stray; after %v: %d copies, none stray, every key at its %d owners",
		copies0, handedOver.Round(time.Millisecond), copiesBefore, strayBefore, time.Since(start).Round(time.Second), copies, writer.cfg.Replicas)
}
