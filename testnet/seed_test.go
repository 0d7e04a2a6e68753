package testnet

import (
	"testing"
)

// TestSeededIdentitiesRepeat: two networks started with one key seed have
// the same node identities, in order; another seed gives others.
func TestSeededIdentitiesRepeat(t *testing.T) {
	ids := func(seed uint64) []string {
		net := Start(t, 2, Options{KeySeed: seed})
		defer net.Close()
		var out []string
		for _, nd := range net.Nodes {
			out = append(out, nd.Net().ID().String())
		}
		return out
	}
	a, b, c := ids(7), ids(7), ids(8)
	if a[0] != b[0] || a[1] != b[1] || a[0] == a[1] {
		t.Fatalf("seed 7 gave %v, then %v", a, b)
	}
	if c[0] == a[0] || c[1] == a[1] {
		t.Fatalf("seeds 7 and 8 gave %v and %v", a, c)
	}
}
