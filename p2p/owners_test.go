package p2p

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"testing"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/internal/testkit"
)

// TestRegionsGiveTheTrueOwners checks the rule the owner cache rests on
// beyond 20 peers: the 20 peers closest to a key (what a DHT lookup
// returns) prove a region of the keyspace complete, and the owners computed
// from that region for any key in it are the R closest of the whole network.
func TestRegionsGiveTheTrueOwners(t *testing.T) {
	const r = 3
	for _, n := range []int{21, 32, 64, 200, 1000} {
		t.Run(fmt.Sprintf("nodes=%d", n), func(t *testing.T) {
			ids := make([]peer.ID, n)
			all := make([]member, n)
			for i := range ids {
				_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				ids[i], _ = peer.IDFromPublicKey(pub)
				all[i] = member{id: ids[i], kb: kb.ConvertPeerID(ids[i])}
			}
			regions, checked := 0, 0
			for q := 0; q < 40; q++ {
				self := ids[q%n]
				key := fmt.Sprintf("/t/en/word%d", q)
				target := kbKey(key)
				// What GetClosestPeers answers: the 20 closest, never self.
				var others []member
				for _, m := range all {
					if m.id != self {
						others = append(others, m)
					}
				}
				found := closest(others, target, 20)
				owners, rg := regionOf(target, self, true, found, r)
				if want := closest(all, target, r); !slices.Equal(owners, want) {
					t.Fatalf("owners of %s: got %v, want %v", key, owners, want)
				}
				if rg == nil {
					continue
				}
				regions++
				// Every peer of the region's prefix is a member, and no other.
				for _, m := range all {
					in := kb.CommonPrefixLen(m.kb, target) >= rg.bits
					has := slices.ContainsFunc(rg.members, func(x member) bool { return x.id == m.id })
					if in != has {
						t.Fatalf("region /%d of %s: peer %s in prefix %v, in region %v", rg.bits, key, m.id, in, has)
					}
				}
				// Keys in the region: owners from the region equal the truth.
				for j := 0; j < 200; j++ {
					other := fmt.Sprintf("/t/xx/k%d-%d", q, j)
					ot := kbKey(other)
					if kb.CommonPrefixLen(ot, target) < rg.bits {
						continue
					}
					checked++
					if got, want := closest(rg.members, ot, r), closest(all, ot, r); !slices.Equal(got, want) {
						t.Fatalf("owners of %s from region /%d: got %v, want %v", other, rg.bits, got, want)
					}
				}
			}
			if regions < 30 {
				t.Errorf("only %d of 40 lookups proved a region of at least %d peers", regions, r)
			}
			t.Logf("%d nodes: %d regions, %d keys checked inside them", n, regions, checked)
		})
	}
}

func TestPrefixOf(t *testing.T) {
	id := kb.ID{0b1011_0110, 0xff}
	for _, c := range []struct {
		bits int
		want string
	}{{0, ""}, {1, "\x80"}, {3, "\xa0"}, {8, "\xb6"}, {9, "\xb6\x80"}} {
		if got := prefixOf(id, c.bits); got != c.want {
			t.Errorf("prefixOf(%08b, %d) = %q, want %q", id[0], c.bits, got, c.want)
		}
	}
}

// TestClosestIsTheSortedPrefix: closest picks the same peers, in the same
// order, as sorting every member by XOR distance.
func TestClosestIsTheSortedPrefix(t *testing.T) {
	var ms []member
	for range 50 {
		id, err := peer.IDFromPrivateKey(testkit.Key(t))
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, member{id: id, kb: kb.ConvertPeerID(id)})
	}
	for i := range 200 {
		target := kbKey(fmt.Sprintf("t/key%d", i))
		sorted := slices.Clone(ms)
		sort.Slice(sorted, func(a, b int) bool { return closerTo(target, sorted[a].kb, sorted[b].kb) })
		for _, n := range []int{1, 3, 20, 50, 60} {
			want := make([]peer.ID, 0, n)
			for _, m := range sorted[:min(n, len(sorted))] {
				want = append(want, m.id)
			}
			if got := closest(ms, target, n); !slices.Equal(got, want) {
				t.Fatalf("key %d, n %d: closest %v, sorted %v", i, n, got, want)
			}
		}
	}
}

// randomPeerIDs makes n peer IDs of fresh ed25519 keys.
func randomPeerIDs(tb testing.TB, n int) []peer.ID {
	tb.Helper()
	ids := make([]peer.ID, n)
	for i := range ids {
		_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		ids[i], _ = peer.IDFromPublicKey(pub)
	}
	return ids
}

// TestMembershipFingerprintSeesEveryChange: the fingerprint of a routing
// table does not depend on the order the table lists its peers in, and
// changes when a peer leaves, joins, or is replaced by another.
func TestMembershipFingerprintSeesEveryChange(t *testing.T) {
	seed := maphash.MakeSeed()
	ids := randomPeerIDs(t, 201)
	table, other := ids[:200], ids[200]
	fp := membershipFingerprint(seed, table)
	shuffled := slices.Clone(table)
	slices.Reverse(shuffled)
	if membershipFingerprint(seed, shuffled) != fp {
		t.Error("the same peers listed in another order have another fingerprint")
	}
	for i := range table {
		left := slices.Delete(slices.Clone(table), i, i+1)
		if membershipFingerprint(seed, left) == fp {
			t.Fatalf("peer %d left and the fingerprint did not change", i)
		}
		if membershipFingerprint(seed, append(left, other)) == fp {
			t.Fatalf("peer %d was replaced by another and the fingerprint did not change", i)
		}
	}
	if membershipFingerprint(seed, append(slices.Clone(table), other)) == fp {
		t.Error("a peer joined and the fingerprint did not change")
	}
}

// BenchmarkMembershipFingerprint: what refresh pays on every search to
// tell whether the routing table changed, against the sorted SHA-256 it
// computed before (5e7d4b7).
func BenchmarkMembershipFingerprint(b *testing.B) {
	for _, n := range []int{20, 200, 1000} {
		ids := randomPeerIDs(b, n)
		b.Run(fmt.Sprintf("peers=%d/sorted-sha256", n), func(b *testing.B) {
			for b.Loop() {
				list := slices.Clone(ids) // ListPeers returns a new slice
				sort.Slice(list, func(i, j int) bool { return list[i] < list[j] })
				h := sha256.New()
				for _, id := range list {
					h.Write([]byte(id))
				}
				_ = binary.BigEndian.Uint64(h.Sum(nil))
			}
		})
		seed := maphash.MakeSeed()
		b.Run(fmt.Sprintf("peers=%d/maphash-sum", n), func(b *testing.B) {
			for b.Loop() {
				list := slices.Clone(ids)
				_ = membershipFingerprint(seed, list)
			}
		})
	}
}
