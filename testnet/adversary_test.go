package testnet_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/internal/adversary/attack"
	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
	"github.com/murmur-p2p/murmur/testnet"
)

// TestAdversary runs every attack of the adversary tool against a real
// network holding real posts, one after the other. Under each attack,
// honest writes and searches keep working; after it (and, for forged
// tombstones, after a node joined while it ran), every post is still at
// every owner of its keys and found from every node, the network's totals
// and rankings are those of one index over the same posts (for attacks
// that write nothing), and the node counted what it refused.
func TestAdversary(t *testing.T) {
	// 600 posts give the query generator common words (in over 60 posts).
	during := 6 * time.Second
	if raceEnabled || testing.Short() {
		during = 5 * time.Second
	}
	entries := sample(t, 600)
	net := testnet.Start(t, 6, testnet.Options{})
	half := len(entries) / 2
	for i, nd := range []int{0, 3} {
		chunk := entries[i*half : (i+1)*half]
		if res := importEntries(t, net.Nodes[nd], chunk); res.Accepted != len(chunk) {
			t.Fatalf("import through node %d: %+v", nd, res)
		}
	}
	original := net.Posts()
	honest := map[string]*post.Post{} // posts written by nodes during the attacks
	content := func() map[string]*post.Post {
		all := map[string]*post.Post{}
		for _, m := range []map[string]*post.Post{original, honest} {
			for id, p := range m {
				all[id] = p
			}
		}
		return all
	}
	placed := func(label string, posts map[string]*post.Post) {
		t.Helper()
		want := map[string][]string{}
		for _, p := range posts {
			for _, k := range keyspace.Keys(p) {
				want[k] = append(want[k], p.ID)
			}
		}
		deadline := time.Now().Add(3 * time.Minute)
		for {
			for _, nd := range net.Alive() {
				nd.Net().TriggerRepair()
			}
			missing := short(copiesAtOwners(t, net.Nodes[1], want), want, 3)
			if len(missing) == 0 {
				return
			}
			if time.Now().After(deadline) {
				var where []string
				for _, m := range missing[:min(3, len(missing))] {
					key := m[:strings.LastIndexByte(m, '(')]
					where = append(where, whereIs(t, net, net.Nodes[1], key, want[key]))
				}
				t.Fatalf("%s: %d keys are not at their 3 owners after 3 minutes: %v\n%s", label, len(missing), firstN(missing, 10), strings.Join(where, "\n"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	placed("before the attacks", original)
	rng := rand.New(rand.NewPCG(3, 4))
	var queries []searchCase
	for _, c := range generateQueries(original, 160, rng) {
		if c.kind == "rare" || c.kind == "mid" || c.kind == "common" || c.kind == "and" || c.kind == "phrase" {
			queries = append(queries, c)
		}
	}
	// Each check takes queries no earlier one asked, so that the counts of
	// their terms are gathered anew (a node reuses them for a minute).
	nextQuery := 0
	fresh := func(n int) []searchCase {
		var out []searchCase
		for range n {
			out = append(out, queries[nextQuery%len(queries)])
			nextQuery++
		}
		return out
	}

	// matchesOneIndex checks the network against one index over the same
	// posts: the totals from two nodes, every query's matches from every
	// node, and the top-10 order of single-term queries.
	matchesOneIndex := func(label string) {
		t.Helper()
		all := content()
		ref, refTerms := newReference(t, all)
		// Totals are reused for 30 s by design (README): gather them anew
		// everywhere, since the posts just changed.
		for _, nd := range net.Alive() {
			nd.Searches().InvalidateTotals()
		}
		for _, nd := range []*testnet.Member{net.Nodes[0], net.Nodes[4]} {
			if tot, _ := nd.Searches().Totals(context.Background()); tot.Posts != uint64(len(all)) || tot.Terms != refTerms {
				t.Errorf("%s: node %d's totals %+v; one index holds %d posts and %d terms", label, nd.Index, tot, len(all), refTerms)
			}
		}
		for i, c := range fresh(12) {
			nd := net.Alive()[i%len(net.Alive())]
			req := query.Request{Q: c.q, Sort: c.sort, Limit: 50}
			want := searchAll(t, ref.search, req)
			got := searchAll(t, nd.Search, req)
			if !testkit.SameSet(got.ids, want.ids) || got.total != want.total {
				t.Errorf("%s: %q from node %d: %d matches (total %d), one index %d (total %d); missing %v",
					label, c.q, nd.Index, len(got.ids), got.total, len(want.ids), want.total, firstN(minus(want.ids, got.ids), 5))
				continue
			}
			if c.sort == query.SortTop && (c.kind == "rare" || c.kind == "mid" || c.kind == "common") {
				top := func(ids []string) []string { return ids[:min(10, len(ids))] }
				if !slices.Equal(top(got.ids), top(want.ids)) {
					t.Errorf("%s: %q from node %d: top-10 %v, one index %v", label, c.q, nd.Index, top(got.ids), top(want.ids))
				}
			}
		}
	}
	matchesOneIndex("before the attacks")

	refused := func(reason string) float64 {
		var sum float64
		for _, nd := range net.Alive() {
			for protocol := range metrics.RefusedReasons {
				sum += metrics.Value(nd.Metrics(), metrics.Refused, "protocol", protocol, "reason", reason)
			}
		}
		return sum
	}
	writes := 0
	// honestWork writes and searches through the network while an attack
	// runs and returns the searches' median latency.
	honestWork := func(ctx context.Context, label string) time.Duration {
		var lat []time.Duration
		for i := 0; i == 0 || ctx.Err() == nil; i++ {
			writer := net.Nodes[1+i%2]
			writes++
			// A write short of its quorum (202) is stored and placed by
			// repair; only a refused one fails.
			p, err := writer.Publish(context.Background(), post.Draft{Text: fmt.Sprintf("honest kestrel note %d written under %s", writes, label)})
			if p == nil {
				t.Errorf("%s: an honest write failed: %v", label, err)
			} else {
				honest[p.ID] = p
			}
			start := time.Now()
			res, err := net.Nodes[5].Search(context.Background(), query.Request{Q: queries[i%len(queries)].q, Limit: 10})
			lat = append(lat, time.Since(start))
			if err != nil {
				t.Errorf("%s: an honest search failed: %v", label, err)
			} else if res.Partial && label != "idle-streams" {
				t.Logf("%s: an honest search was partial: %+v", label, res.Shards)
			}
			time.Sleep(100 * time.Millisecond)
		}
		slices.Sort(lat)
		return lat[len(lat)/2]
	}

	boot := net.Nodes[0].Net().Addrs()
	// The attacks that add posts of their own come last.
	attacks := attack.Attacks()
	writing := func(name string) bool {
		return name == "unowned-writes" || name == "write-flood" || name == "sybil-flood"
	}
	sort.SliceStable(attacks, func(i, j int) bool { return !writing(attacks[i].Name) && writing(attacks[j].Name) })
	for _, a := range attacks {
		t.Run(a.Name, func(t *testing.T) {
			actx, stop := context.WithCancel(context.Background())
			defer stop()
			var rep *attack.Report
			var runErr error
			var wg sync.WaitGroup
			wg.Add(1)
			joined, ready := make(chan struct{}), make(chan struct{})
			go func() {
				defer wg.Done()
				rep, runErr = attack.Run(actx, a.Name, attack.Config{Bootstrap: boot, Network: net.Name(), Duration: attack.MaxDuration,
					Joined: func() { close(joined) }, Ready: func() { close(ready) }})
			}()
			select {
			case <-joined:
			case <-time.After(time.Minute):
				t.Fatal("the attacker did not join within a minute")
			}
			if a.Name == "grind-owners" {
				// Its identities grind and join before it lies: the
				// honest work is measured once they are in.
				select {
				case <-ready:
				case <-time.After(2 * time.Minute):
					t.Fatal("grind-owners was not under way within 2 minutes")
				}
			}
			if a.Name == "forged-tombstones" {
				// A node joins while the forged tombstones fly: it is handed
				// keys it did not hold, after receiving tombstones for them.
				time.Sleep(during / 2)
				net.Add()
			}
			ctx, cancel := context.WithTimeout(context.Background(), during)
			defer cancel()
			p50 := honestWork(ctx, a.Name)
			if a.Name == "poisoned-stats" {
				// The liar is still answering: the totals and counts
				// gathered now must not follow it.
				placed("during "+a.Name, content())
				matchesOneIndex("during " + a.Name)
			}
			stop()
			wg.Wait()
			if runErr != nil {
				t.Fatalf("attack: %v", runErr)
			}
			t.Logf("honest search p50 under %s: %v\n%s", a.Name, p50, rep)

			net.WaitRouting(60 * time.Second)
			if writing(a.Name) {
				// What the attacker got the network to take is content
				// now, and must be placed like the rest.
				original = net.Posts()
			}
			placed("after "+a.Name, content())
			switch a.Name {
			case "forged-tombstones":
				if rep.Count("posts found") == 0 || rep.Count("tombstones sent") == 0 {
					t.Fatalf("the attack found or sent nothing: the test proves nothing\n%s", rep)
				}
				if refused(metrics.RefusedWrongAuthor) == 0 {
					t.Error("no forged tombstone was counted as refused")
				}
			case "poisoned-stats":
				if rep.Count("summaries answered with lies") == 0 {
					t.Fatalf("nobody asked the liar: the test proves nothing\n%s", rep)
				}
				if refused(metrics.RefusedOutvoted)+refused(metrics.RefusedImplausible) == 0 {
					t.Error("the lies were not counted")
				}
			case "idle-streams":
				if rep.Count("idle streams opened") == 0 {
					t.Fatalf("no idle stream opened\n%s", rep)
				}
				if refused(metrics.RefusedSlowRequest) == 0 {
					t.Error("no idle stream was counted as slow")
				}
			case "sync-flood":
				// Every answered request cost its node 20,000 lookups; no
				// node did more for the flooder than its budget allows.
				peers := max(rep.Peers, 1)
				budget := (p2p.SyncWorkBurst + p2p.SyncWorkRate*rep.Took.Seconds()) / 20_000
				if per := float64(rep.Count("sync requests answered")) / float64(peers); per > budget+1 {
					t.Errorf("each node answered %.1f flood requests, over its budget of %.1f\n%s", per, budget, rep)
				}
				t.Logf("sync work refused: %v", refused(metrics.RefusedWorkBudget))
			case "unowned-writes":
				if rep.Count("keys refused: not_owner")+rep.Count("posts refused: not_owner") == 0 || refused(metrics.RefusedNotOwner) == 0 {
					t.Errorf("no write under an unowned key was refused\n%s", rep)
				}
				if taken := rep.Count("keys taken by a node that does not own them"); taken > 0 {
					t.Errorf("%d keys were taken by nodes that do not own them\n%s", taken, rep)
				}
			case "write-flood", "sybil-flood":
				written := rep.Count("posts written")
				if written == 0 {
					t.Fatalf("the flood wrote nothing\n%s", rep)
				}
				// What any node took from the flooder is bounded by the
				// per-peer post budget over the attack.
				bound := p2p.PeerPostBurst + int(p2p.PeerPostRate*during.Seconds())
				for _, nd := range net.Alive() {
					count, _ := nd.Status(context.Background())
					if int(count.Posts) > len(content())+bound {
						t.Errorf("node %d holds %d posts, over the %d honest ones and a flooder's bound of %d", nd.Index, count.Posts, len(content()), bound)
					}
				}
			case "costly-queries":
				if rep.Count("searches refused or reset")+rep.Count("searches refused as too costly") == 0 {
					t.Errorf("no costly query was refused\n%s", rep)
				}
			case "grind-owners":
				// TestGrindingOwnersOfATerm checks what its lies change.
				if rep.Count("identities joined next to the term's key") == 0 {
					t.Errorf("no ground identity joined\n%s", rep)
				}
			}
			matchesOneIndex("after " + a.Name)
		})
	}
	t.Logf("%d honest posts written during the attacks, every one at its owners", len(honest))
}
