package testnet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/internal/corpus"
	"github.com/murmur-p2p/murmur/internal/testenv"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/testnet"
)

// sample returns n corpus entries spread over every language.
func sample(t *testing.T, n int) []corpus.Entry {
	t.Helper()
	testenv.Need(t, corpus.Available(), "the fortunes corpus", corpus.InstallHint)
	all, err := corpus.Load()
	if err != nil {
		t.Fatal(err)
	}
	step := max(len(all)/n, 1)
	var out []corpus.Entry
	for i := 0; i < len(all) && len(out) < n; i += step {
		out = append(out, all[i])
	}
	return out
}

func importEntries(t *testing.T, nd *testnet.Member, entries []corpus.Entry) api.ImportResult {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i, e := range entries {
		day := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		enc.Encode(api.ImportLine{Text: e.Text, Lang: e.Lang, CreatedAt: day.Format(time.RFC3339), Author: "fortune-" + e.Lang})
	}
	res, err := nd.Import(context.Background(), &buf, api.ImportOptions{}, nil)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return res
}

// expectedKeys maps every key of every post node holds to the IDs under it.
func expectedKeys(t *testing.T, nd *testnet.Member) (map[string][]string, int) {
	t.Helper()
	want := map[string][]string{}
	posts := 0
	err := nd.WalkPosts(context.Background(), func(p *post.Post) error {
		posts++
		for _, k := range keyspace.Keys(p) {
			want[k] = append(want[k], p.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return want, posts
}

// copiesAtOwners asks, from node from and over the sync protocol, each owner
// of each key whether it holds exactly the expected posts under it, and
// returns the number of owners that do, per key.
func copiesAtOwners(t *testing.T, from *testnet.Member, want map[string][]string) map[string]int {
	t.Helper()
	ctx := context.Background()
	perOwner := map[peer.ID][]p2p.Digest{}
	copies := map[string]int{}
	for key, ids := range want {
		owners, err := from.Net().Owners(ctx, key)
		if err != nil {
			t.Fatalf("owners of %s: %v", key, err)
		}
		d := p2p.DigestOf(key, ids)
		for _, o := range owners {
			if o == from.Net().ID() {
				if from.Net().LocalDigest(key) == d {
					copies[key]++
				}
				continue
			}
			perOwner[o] = append(perOwner[o], d)
		}
	}
	for o, digests := range perOwner {
		differ, err := from.Net().Differ(ctx, o, digests)
		if err != nil {
			// An owner that cannot be reached holds no copy we can count;
			// the caller decides whether that is a failure or a wait.
			continue
		}
		bad := map[string]bool{}
		for _, d := range differ {
			bad[d.Key] = true
		}
		for _, d := range digests {
			if !bad[d.Key] {
				copies[d.Key]++
			}
		}
	}
	return copies
}

// short lists keys with fewer than n copies, for failure messages.
func short(copies map[string]int, want map[string][]string, n int) []string {
	var out []string
	for k := range want {
		if copies[k] < n {
			out = append(out, fmt.Sprintf("%s(%d)", k, copies[k]))
		}
	}
	sort.Strings(out)
	return out
}

// holders counts, in process, the live nodes whose digest of each key
// matches the expected posts.
func holders(net *testnet.Net, want map[string][]string) map[string]int {
	out := map[string]int{}
	for key, ids := range want {
		d := p2p.DigestOf(key, ids)
		for _, nd := range net.Alive() {
			if nd.Net().LocalDigest(key) == d {
				out[key]++
			}
		}
	}
	return out
}

// whereIs tells, for a failure's message, who holds key: every live node
// with its digest's count against the posts wanted, whether it is among
// its true owners (trueOwners), and whether from (the
// node that counted the copies) names it an owner.
func whereIs(t *testing.T, net *testnet.Net, from *testnet.Member, key string, ids []string) string {
	t.Helper()
	d := p2p.DigestOf(key, ids)
	alive := net.Alive()
	r := from.Net().Replicas()
	closest := trueOwners(net, key, r)
	owners, err := from.Net().Owners(context.Background(), key)
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %d posts: owners named by %s: %v (err %v)", key, d.Count, from.Net().ID().ShortString(), owners, err)
	for _, nd := range alive {
		local := nd.Net().LocalDigest(key)
		fmt.Fprintf(&b, "\n  %s: holds %d, exact %v, one of the %d closest %v, routing table %d",
			nd.Net().ID().ShortString(), local.Count, local == d, r, slices.Contains(closest, nd.Net().ID()), nd.Net().RoutingTableSize())
	}
	return b.String()
}

// TestPlacementSurvivesChurn is the network's whole write path: posts
// imported through one node reach R owners of each of their keys, as another
// node sees them over the wire; with 3 of 8 nodes killed every key keeps a
// copy and repair restores R copies on the survivors; restarted and added
// nodes take their share and nothing is lost.
func TestPlacementSurvivesChurn(t *testing.T) {
	n := 1000
	if raceEnabled {
		n = 300
	}
	entries := sample(t, n)
	net := testnet.Start(t, 8, testnet.Options{})
	const R = p2p.DefaultReplicas

	res := importEntries(t, net.Nodes[0], entries)
	if res.Accepted != len(entries) || res.UnderReplicated != 0 {
		t.Fatalf("import: %+v, want %d accepted, none under-replicated", res, len(entries))
	}
	want, posts := expectedKeys(t, net.Nodes[0])
	if posts != len(entries) {
		t.Fatalf("node 0 holds %d posts, want %d", posts, len(entries))
	}
	t.Logf("%d posts under %d keys", posts, len(want))

	copies := copiesAtOwners(t, net.Nodes[7], want)
	if s := short(copies, want, R); len(s) > 0 {
		t.Fatalf("%d of %d keys have fewer than %d copies at their owners, e.g. %v", len(s), len(want), R, s[:min(5, len(s))])
	}

	// Kill 3 of 8 abruptly: every key keeps at least one exact copy.
	for _, i := range []int{2, 4, 6} {
		net.Kill(i)
	}
	if s := short(holders(net, want), want, 1); len(s) > 0 {
		t.Fatalf("%d keys lost every copy after 3 of 8 nodes died, e.g. %v", len(s), s[:min(5, len(s))])
	}
	// Repair brings every key back to R copies at its new owners.
	start := time.Now()
	net.WaitFor("R copies on the survivors", 3*time.Minute, func() bool {
		return len(short(copiesAtOwners(t, net.Nodes[7], want), want, R)) == 0
	})
	t.Logf("repair after 3 deaths: %v", time.Since(start))

	// Restart the dead and add two: placement converges again.
	for _, i := range []int{2, 4, 6} {
		net.Restart(i)
	}
	net.Add()
	net.Add()
	net.WaitRouting(30 * time.Second)
	start = time.Now()
	var left []string
	net.WaitFor("R copies after restarts and joins", 3*time.Minute, func() bool {
		left = short(copiesAtOwners(t, net.Nodes[9], want), want, R)
		if len(left) > 0 && time.Since(start) > 170*time.Second {
			t.Logf("still short: %d keys, e.g. %v", len(left), left[:min(5, len(left))])
		}
		return len(left) == 0
	})
	t.Logf("convergence after restarts and joins: %v", time.Since(start))
	if _, n := expectedKeys(t, net.Nodes[0]); n != posts {
		t.Fatalf("node 0 holds %d posts after churn, want %d", n, posts)
	}
}
