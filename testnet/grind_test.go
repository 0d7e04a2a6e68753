package testnet_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/internal/adversary/attack"
	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/puzzle"
	"github.com/murmur-p2p/murmur/query"
	"github.com/murmur-p2p/murmur/testnet"
)

// grindDifficulty is the identity puzzle of the defended network.
const grindDifficulty = 8

// TestGrindingOwnersOfATerm: an attacker grinds identities closer to a
// term's key than any of 12 honest nodes and answers searches for the term
// with lies.
//
// Without the puzzle identities are free: it takes all three places of
// "election" and hides every match from every node (the attack works).
// With the puzzle each identity costs it 2^D tries more; with one paid
// place next to "election" (hiding) and one next to "harvest" (putting its
// own posts first), every node still finds every match in the order one
// index gives, and counts the liars.
func TestGrindingOwnersOfATerm(t *testing.T) {
	t.Run("free identities", func(t *testing.T) {
		net := testnet.Start(t, 12, testnet.Options{})
		writeTermPosts(t, net, "election", "harvest")
		stop := runGrinder(t, net, attack.Config{Identities: 3, Term: "election", Mode: attack.ModeHide})
		waitOwned(t, net, "election", 3)
		want := referenceTop(t, net, "election")
		hidden := 0
		for _, nd := range net.Nodes {
			res, err := nd.Search(context.Background(), query.Request{Q: "election", Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if res.Total < want.Total {
				hidden++
			}
		}
		rep := stop()
		if hidden != len(net.Nodes) {
			t.Fatalf("the attacker owning every place of the term hid its matches from %d of %d nodes: the attack does not work, so the test proves nothing\n%s", hidden, len(net.Nodes), rep)
		}
	})

	t.Run("paid identities", func(t *testing.T) {
		net := testnet.Start(t, 12, testnet.Options{IDDifficulty: grindDifficulty})
		writeTermPosts(t, net, "election", "harvest")
		stopHide := runGrinder(t, net, attack.Config{Identities: 1, Term: "election", Mode: attack.ModeHide, IDDifficulty: grindDifficulty})
		stopPromote := runGrinder(t, net, attack.Config{Identities: 1, Term: "harvest", Mode: attack.ModePromote, IDDifficulty: grindDifficulty})
		for _, term := range []string{"election", "harvest"} {
			for _, o := range waitOwned(t, net, term, 1) {
				if !puzzle.Solves(o, grindDifficulty) {
					t.Fatalf("attacker identity %s owns %s without solving the puzzle", o, term)
				}
			}
		}
		// A node asks the owners it has measured first, and measures one it
		// has not when a search considers it: the searches go round until
		// each liar was asked and caught; every answer of every round must
		// be exact.
		want := map[string]*query.Result{}
		for _, term := range []string{"election", "harvest"} {
			want[term] = referenceTop(t, net, term)
		}
		var disagreements, rescored float64
		for round := 0; round < 5 && (disagreements == 0 || rescored == 0); round++ {
			for _, term := range []string{"election", "harvest"} {
				for _, nd := range net.Nodes {
					res, err := nd.Search(context.Background(), query.Request{Q: term, Limit: 10})
					if err != nil {
						t.Fatal(err)
					}
					if got := hitIDs(res.Hits); !slices.Equal(got, hitIDs(want[term].Hits)) || res.Total != want[term].Total {
						t.Errorf("round %d, %s from node %d: %v (total %d), one index %v (total %d)", round, term, nd.Index, got, res.Total, hitIDs(want[term].Hits), want[term].Total)
					}
				}
			}
			disagreements, rescored = 0, 0
			for _, nd := range net.Nodes {
				disagreements += metrics.Value(nd.Metrics(), metrics.OwnerDisagreements)
				rescored += metrics.Value(nd.Metrics(), metrics.QueryRescored)
			}
		}
		hide, promote := stopHide(), stopPromote()
		if hide.Count("searches answered with a lie") == 0 || promote.Count("searches answered with a lie") == 0 {
			t.Fatalf("nobody asked a liar: the test proves nothing\n%s%s", hide, promote)
		}
		if disagreements == 0 || rescored == 0 {
			t.Errorf("the liars were not counted: %v owner disagreements, %v rescored hits", disagreements, rescored)
		}
		t.Logf("%v owner disagreements and %v rescored hits counted\n%s%s", disagreements, rescored, hide, promote)
	})
}

// writeTermPosts publishes 30 posts for each term, of different lengths
// and term counts so that their scores differ, from every node in turn.
func writeTermPosts(t *testing.T, net *testnet.Net, terms ...string) {
	t.Helper()
	for _, term := range terms {
		for i := range 30 {
			text := fmt.Sprintf("%s note %d", term, i)
			for j := range i % 6 {
				text += fmt.Sprintf(" %s word%d", term, j)
			}
			for j := range i % 4 {
				text += fmt.Sprintf(" filler%d", j)
			}
			nd := net.Nodes[i%len(net.Nodes)]
			if _, err := nd.Publish(context.Background(), post.Draft{Text: text}); err != nil {
				t.Fatalf("publish on node %d: %v", nd.Index, err)
			}
		}
	}
}

// runGrinder starts grind-owners with cfg against net and waits until it
// is under way; stop ends it and returns its report.
func runGrinder(t *testing.T, net *testnet.Net, cfg attack.Config) (stop func() *attack.Report) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Bootstrap, cfg.Network, cfg.Duration = net.Nodes[0].Net().Addrs(), net.Name(), attack.MaxDuration
	ready := make(chan struct{})
	cfg.Ready = func() { close(ready) }
	var rep *attack.Report
	var err error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rep, err = attack.Run(ctx, "grind-owners", cfg)
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-ready:
	case <-done:
		t.Fatalf("grind-owners stopped before it was under way: %v", err)
	case <-time.After(2 * time.Minute):
		cancel()
		t.Fatal("grind-owners was not under way within 2 minutes")
	}
	var once sync.Once
	stop = func() *attack.Report {
		once.Do(func() {
			cancel()
			wg.Wait()
			if err != nil {
				t.Fatalf("grind-owners: %v", err)
			}
		})
		return rep
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitOwned waits until every node names at least n peers that are not
// members of net among the owners of term's key (the attacker's joining
// peer may be one, by chance), and returns them.
func waitOwned(t *testing.T, net *testnet.Net, term string, n int) []peer.ID {
	t.Helper()
	key := keyspace.TermKey(term)
	honest := map[peer.ID]bool{}
	for _, nd := range net.Nodes {
		honest[nd.ID()] = true
	}
	var strangers []peer.ID
	poll.Until(t, fmt.Sprintf("the attacker owns %d places of %s at every node", n, key), time.Minute, 100*time.Millisecond, func() bool {
		for _, nd := range net.Nodes {
			owners, err := nd.Net().Owners(context.Background(), key)
			if err != nil {
				return false
			}
			strangers = slices.DeleteFunc(slices.Clone(owners), func(p peer.ID) bool { return honest[p] })
			if len(strangers) < n {
				return false
			}
		}
		return true
	})
	return strangers
}

// referenceTop is the first page of term from one index over every post
// the nodes hold.
func referenceTop(t *testing.T, net *testnet.Net, term string) *query.Result {
	t.Helper()
	// Totals are reused for 30 s: gather them anew, over the posts of now.
	for _, nd := range net.Nodes {
		nd.Searches().InvalidateTotals()
	}
	ref, _ := newReference(t, net.Posts())
	res, err := ref.search(context.Background(), query.Request{Q: term, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) < 10 {
		t.Fatalf("one index finds %d posts for %s", len(res.Hits), term)
	}
	return res
}

func hitIDs(hits []query.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Post.ID
	}
	return out
}
