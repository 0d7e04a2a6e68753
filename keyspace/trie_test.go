package keyspace

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"
)

// TestTrieNodeForms: the wire forms of a trie's nodes, what they parse
// into, and the forms refused.
func TestTrieNodeForms(t *testing.T) {
	good := []struct {
		s string
		n Node
	}{
		{"t/heron", Node{Class: ClassTerm, Value: "heron"}},
		{"t@2026-11/heron", Node{Class: ClassTerm, Value: "heron", Month: "2026-11"}},
		{"t@2026-11.0110/heron", Node{Class: ClassTerm, Value: "heron", Month: "2026-11", Bits: "0110"}},
		{"a@1970-01.1/12D3KooW", Node{Class: ClassAuthor, Value: "12D3KooW", Month: "1970-01", Bits: "1"}},
		// A label may hold any character: what narrows the key comes
		// before the first slash.
		{"l@2026-11.01/alice@example.social/2026-11", Node{Class: ClassLabel, Value: "alice@example.social/2026-11", Month: "2026-11", Bits: "01"}},
		{"l/a@2026-11.01", Node{Class: ClassLabel, Value: "a@2026-11.01"}},
	}
	for _, g := range good {
		n, err := ParseNode(g.s)
		if err != nil || n != g.n {
			t.Errorf("ParseNode(%q) = %+v, %v; want %+v", g.s, n, err, g.n)
			continue
		}
		if n.String() != g.s {
			t.Errorf("%+v prints as %q, parsed from %q", n, n.String(), g.s)
		}
	}
	for _, s := range []string{
		"", "t", "t/", "x/heron", "t@/heron", "t@2026-13/heron", "t@2026-00/heron",
		"t@1969-12/heron", "t@2026-1/heron", "t@2026_11/heron", "t@2026-11./heron",
		"t@2026-11.012/heron", "t@2026-11.000000000/heron", "t.01/heron", "t@2026-11.01",
	} {
		if n, err := ParseNode(s); err == nil {
			t.Errorf("ParseNode(%q) = %+v, want an error", s, n)
		}
	}
}

// TestAPostFallsInOneChildAtEachSplit: from a root down to the deepest
// split, a post falls in exactly one child at each step, the one ChildFor
// names, and the children of a node share its posts about evenly (post IDs
// are hashes).
func TestAPostFallsInOneChildAtEachSplit(t *testing.T) {
	root := RootNode(ClassTerm, "heron")
	created := time.Date(2026, 11, 30, 23, 59, 59, 0, time.FixedZone("UTC-1", -3600)) // December in UTC
	bucket := root.BucketOf(created)
	if bucket.Month != "2026-12" || bucket.String() != "t@2026-12/heron" {
		t.Fatalf("a post of 23:59 at UTC-1 on November 30 is in bucket %s, want December's", bucket)
	}
	perChild := map[string]int{}
	const posts = 2000
	for i := range posts {
		sum := sha256.Sum256(fmt.Appendf(nil, "post %d", i))
		id := hex.EncodeToString(sum[:])
		n := root
		for depth := 0; depth <= MaxSplitDepth; depth++ {
			child, err := n.ChildFor(id, created)
			if err != nil {
				t.Fatalf("post %s at %s: %v", id, n, err)
			}
			if !child.Holds(id, created) || child.Depth() != n.Depth()+1 {
				t.Fatalf("post %s: child %s of %s does not hold it (depth %d)", id, child, n, child.Depth())
			}
			if n.Month != "" {
				children, _ := n.Children()
				if children[0].Holds(id, created) == children[1].Holds(id, created) {
					t.Fatalf("post %s: children %s and %s both or neither hold it", id, children[0], children[1])
				}
			}
			if depth == 1 {
				perChild[child.Bits]++
			}
			n = child
		}
		if len(n.Bits) != MaxSplitDepth {
			t.Fatalf("post %s ends at %s", id, n)
		}
		if _, err := n.ChildFor(id, created); err == nil {
			t.Fatalf("%s split beyond %d bits", n, MaxSplitDepth)
		}
		if bucket.Holds(id, created.AddDate(0, -1, 0)) {
			t.Fatalf("bucket %s holds a post of the month before", bucket)
		}
	}
	if perChild["0"] < posts*45/100 || perChild["1"] < posts*45/100 {
		t.Errorf("a bucket's two children hold %d and %d of %d posts", perChild["0"], perChild["1"], posts)
	}
}

func TestPrefixOf(t *testing.T) {
	for _, c := range []struct {
		id    string
		depth int
		want  string
	}{
		{"a3ff", 8, "10100011"}, {"a3ff", 5, "10100"}, {"a3ff", 0, ""}, {"0", 4, "0000"},
		{"a", 5, ""}, {"", 1, ""}, {"g0", 1, ""},
	} {
		if got := PrefixOf(c.id, c.depth); got != c.want {
			t.Errorf("PrefixOf(%q, %d) = %q, want %q", c.id, c.depth, got, c.want)
		}
	}
}

// FuzzParseNode: trie keys will come from peers; any text either fails or
// parses into a node that prints back to itself, within the bounds.
func FuzzParseNode(f *testing.F) {
	for _, s := range []string{"t/heron", "t@2026-11/heron", "t@2026-11.0110/heron", "l@2026-11.01/a@b/c", "a@1970-01.1/x", "t@2026-11./x", "t@9999-12.11111111/z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNode(s)
		if err != nil {
			return
		}
		if n.String() != s {
			t.Fatalf("ParseNode(%q).String() = %q", s, n.String())
		}
		if len(n.Bits) > MaxSplitDepth || n.Bits != "" && n.Month == "" || n.Value == "" {
			t.Fatalf("ParseNode(%q) = %+v: out of bounds", s, n)
		}
		if n.Month != "" {
			if _, err := time.Parse("2006-01", n.Month); err != nil {
				t.Fatalf("ParseNode(%q): month %q: %v", s, n.Month, err)
			}
		}
	})
}
