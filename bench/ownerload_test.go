package bench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/p2p"
)

// BenchmarkOwnerLoad places queryPosts corpus posts at the R owners of
// each of their keys (keyspace.Keys: the key scheme of this build, no
// split records) among N nodes of seeded identities, as a settled network
// would, and reports how evenly the postings fall: the busiest node's
// postings over the mean, the busiest node's share of every post (a post
// it holds under any key), and the largest key's postings. It runs no
// network: it measures the key scheme, so that two builds' schemes
// compare on the same posts and the same identities.
func BenchmarkOwnerLoad(b *testing.B) {
	posts := signed(b, sample(b, queryPosts))
	keysOf := make([][]string, len(posts))
	for i, p := range posts {
		keysOf[i] = keyspace.Keys(p)
	}
	for _, n := range []int{32, 100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			ids := seededKeyspaceIDs(b, n)
			for b.Loop() {
				owners := map[string][]int{}
				postings := make([]int, n)
				held := make([]map[int]bool, n)
				for i := range held {
					held[i] = map[int]bool{}
				}
				perKey := map[string]int{}
				for i, keys := range keysOf {
					for _, k := range keys {
						o, ok := owners[k]
						if !ok {
							o = closest(ids, kb.ConvertKey(k), p2p.DefaultReplicas)
							owners[k] = o
						}
						perKey[k]++
						for _, j := range o {
							postings[j]++
							held[j][i] = true
						}
					}
				}
				total := 0
				for _, c := range postings {
					total += c
				}
				busiest := slices.Index(postings, slices.Max(postings))
				largest := 0
				for _, c := range perKey {
					largest = max(largest, c)
				}
				b.ReportMetric(float64(postings[busiest])/(float64(total)/float64(n)), "max-over-mean")
				b.ReportMetric(float64(len(held[busiest]))/float64(len(posts)), "busiest-posts-share")
				b.ReportMetric(float64(largest), "largest-key-postings")
				b.ReportMetric(float64(len(perKey)), "keys")
			}
		})
	}
}

// seededKeyspaceIDs are the DHT keyspace IDs of n peers whose identities
// come from a fixed seed, the same in every build.
func seededKeyspaceIDs(b *testing.B, n int) [][]byte {
	b.Helper()
	rng := rand.New(rand.NewChaCha8([32]byte{19}))
	out := make([][]byte, n)
	for i := range out {
		var seed [32]byte
		for j := range seed {
			seed[j] = byte(rng.Uint32())
		}
		k, _, err := crypto.GenerateEd25519Key(bytes.NewReader(seed[:]))
		if err != nil {
			b.Fatal(err)
		}
		id, err := peer.IDFromPrivateKey(k)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = kb.ConvertPeerID(id)
	}
	return out
}

// closest are the indexes of the r IDs closest to target by XOR
// distance, closest first.
func closest(ids [][]byte, target []byte, r int) []int {
	type cand struct {
		i    int
		dist []byte
	}
	best := make([]cand, 0, r+1)
	d := make([]byte, len(target))
	for i, id := range ids {
		for j := range d {
			d[j] = id[j] ^ target[j]
		}
		if len(best) == r && bytes.Compare(d, best[r-1].dist) >= 0 {
			continue
		}
		best = append(best, cand{i, slices.Clone(d)})
		slices.SortFunc(best, func(a, c cand) int { return bytes.Compare(a.dist, c.dist) })
		best = best[:min(len(best), r)]
	}
	out := make([]int, len(best))
	for i, c := range best {
		out[i] = c.i
	}
	return out
}
