package p2p

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p-kbucket/peerdiversity"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/puzzle"
)

// testDifficulty is the identity puzzle of the tests' networks: 256 tries
// a key, a few milliseconds.
const testDifficulty = 8

// solvedKey grinds a key that solves the test puzzle.
func solvedKey(t *testing.T) crypto.PrivKey {
	t.Helper()
	key, err := puzzle.Grind(context.Background(), testDifficulty, 1, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// grindNear grinds a key whose ID shares more leading bits with target
// than minCpl, without paying for the puzzle: what an attacker who wants
// to own a key does when identities are free.
func grindNear(t *testing.T, target kb.ID, minCpl int) (crypto.PrivKey, int) {
	t.Helper()
	for tries := 1; ; tries++ {
		key, _, err := puzzle.Try(0)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := peer.IDFromPrivateKey(key)
		if kb.CommonPrefixLen(kb.ConvertPeerID(id), target) > minCpl && !puzzle.Solves(id, testDifficulty) {
			return key, tries
		}
	}
}

// TestGroundIDsOwnNothing: an attacker grinds R free identities closer to
// a term's key than any honest node and joins. On a network without the
// identity puzzle they own the term (the attack works); on a network that
// asks for it they are refused at the connection, never enter a routing
// table and own nothing, and the refusals are counted.
func TestGroundIDsOwnNothing(t *testing.T) {
	const honest = 6
	key := keyspace.TermKey("election")
	target := kbKey(key)
	for _, d := range []int{0, testDifficulty} {
		t.Run(fmt.Sprintf("difficulty=%d", d), func(t *testing.T) {
			net := startNetwork(t, 0, nil)
			for range honest {
				net.addWith(func(c *Config) { c.Key, c.IDDifficulty, c.Metrics = solvedKey(t), d, prometheus.NewRegistry() })
			}
			net.waitRouting()
			maxCpl := 0
			for _, s := range net.svcs {
				maxCpl = max(maxCpl, kb.CommonPrefixLen(kb.ConvertPeerID(s.ID()), target))
			}
			var attackers []peer.ID
			tries := 0
			for range net.svcs[0].cfg.Replicas {
				k, n := grindNear(t, target, maxCpl)
				tries += n
				s := net.addWith(func(c *Config) { c.Key, c.IDDifficulty = k, 0 })
				attackers = append(attackers, s.ID())
			}
			t.Logf("attacker ground %d keys in %d tries (honest IDs share at most %d bits with %s)", len(attackers), tries, maxCpl, key)
			honestSvcs := net.svcs[:honest]
			ownedByAttacker := func() int {
				n := 0
				for _, s := range honestSvcs {
					s.owners.refresh()
					owners, err := s.Owners(context.Background(), key)
					if err != nil {
						t.Fatal(err)
					}
					for _, o := range owners {
						if slices.Contains(attackers, o) {
							n++
						}
					}
				}
				return n
			}
			if d == 0 {
				poll.Until(t, "the attacker owns the term at every honest node", 30*time.Second, 50*time.Millisecond, func() bool {
					return ownedByAttacker() == honest*len(attackers)
				})
				return
			}
			// Each attacker joins through the first honest node: once each
			// was refused there, it has no way in.
			poll.Until(t, "every attacker identity refused", 30*time.Second, 50*time.Millisecond, func() bool {
				return refusedCount(net.svcs[0].cfg.Metrics, metrics.ProtocolConn, metrics.RefusedIdentity) >= float64(len(attackers))
			})
			if n := ownedByAttacker(); n != 0 {
				t.Fatalf("attacker identities are %d of the owners of %s at the honest nodes", n, key)
			}
			for _, s := range honestSvcs {
				for _, a := range attackers {
					if s.dht.RoutingTable().Find(a) != "" {
						t.Fatalf("%s let attacker %s into its routing table", s.ID(), a)
					}
				}
			}
		})
	}
}

// TestDiversityCountsPublicGroupsOnly: kad-dht's filter keeps one public
// IP group to DiversityPerTable peers; private groups are not counted.
func TestDiversityCountsPublicGroupsOnly(t *testing.T) {
	net := startNetwork(t, 1, nil)
	f := newDiversityFilter(net.svcs[0].Host())
	for _, tc := range []struct {
		group string
		limit bool
	}{{"203.0.0.0", true}, {"8.8.0.0", true}, {"127.0.0.0", false}, {"192.168.0.0", false}, {"198.18.0.0", false}, {"10.1.0.0", false}} {
		allowed := 0
		for i := range 10 {
			g := peerdiversity.PeerGroupInfo{Id: peer.ID(fmt.Sprint(i)), Cpl: i % 3, IPGroupKey: peerdiversity.PeerIPGroupKey(tc.group)}
			if f.Allow(g) {
				f.Increment(g)
				allowed++
			}
		}
		if tc.limit && allowed != DiversityPerTable || !tc.limit && allowed != 10 {
			t.Errorf("group %s: %d of 10 peers allowed", tc.group, allowed)
		}
	}
}

// TestFreshAuthorsPayForTheirFirstPost: on a network without a post
// difficulty, a post of a brand-new author is taken at once (flooding with
// fresh identities costs nothing). With one, the owners refuse it and count
// the refusal; the same author's post with the work is taken, and after it
// the author is known: its next post needs no work.
func TestFreshAuthorsPayForTheirFirstPost(t *testing.T) {
	ctx := context.Background()
	for _, d := range []int{0, 12} {
		t.Run(fmt.Sprintf("post-difficulty=%d", d), func(t *testing.T) {
			net := startNetwork(t, 0, nil)
			for range 3 { // R = 3: every node owns every key
				net.addWith(func(c *Config) { c.PostDifficulty, c.Metrics = d, prometheus.NewRegistry() })
			}
			net.waitRouting()
			writer := net.svcs[0]
			fresh := testkit.Key(t)
			sign := func(text string, work int) *post.Post {
				p, err := post.SignWork(ctx, fresh, post.Draft{Text: text}, time.Now(), work)
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			place := func(p *post.Post) error {
				if _, err := writer.cfg.Store.Put(ctx, p); err != nil {
					t.Fatal(err)
				}
				return writer.Place(ctx, []*post.Post{p})[0]
			}
			if err := place(sign("a flood of fresh voices", 0)); d == 0 {
				if err != nil {
					t.Fatalf("without a post difficulty a fresh author's post was refused: %v", err)
				}
				return
			} else if err == nil {
				t.Fatal("a fresh author's post without work reached its quorum")
			}
			var refused float64
			for _, s := range net.svcs[1:] {
				refused += refusedCount(s.cfg.Metrics, metrics.ProtocolStore, metrics.RefusedPostWork)
			}
			if refused == 0 {
				t.Error("no refusal for missing work was counted")
			}
			if err := place(sign("a fresh voice that paid", d)); err != nil {
				t.Fatalf("a post with %d bits of work: %v", d, err)
			}
			if err := place(sign("the same voice again, known now", 0)); err != nil {
				t.Fatalf("a known author's post without work: %v", err)
			}
		})
	}
}
