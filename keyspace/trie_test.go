package keyspace

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/post"
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

// TestSplitRecords: a split record is checked, merged and expanded into
// the nodes a search asks: newest bucket first, only the buckets a date
// range overlaps, a moving bucket one bit up, and the root alone while it
// hands postings down; and trie keys parse as keys of a plan.
func TestSplitRecords(t *testing.T) {
	rec := Split{Buckets: []Bucket{{Month: "2026-09", Count: 10}, {Month: "2026-10", Count: 30000, Depth: 1}, {Month: "2026-11", Count: 50000, Depth: 2, Moving: true}}}
	if err := rec.Check(); err != nil {
		t.Fatal(err)
	}
	if rec.Total() != 80010 {
		t.Fatalf("total %d", rec.Total())
	}
	root := RootNode(ClassTerm, "heron")
	names := func(ns []Node) []string {
		out := make([]string, len(ns))
		for i, n := range ns {
			out[i] = n.String()
		}
		return out
	}
	day := func(s string) time.Time {
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, c := range []struct {
		since, until time.Time
		want         []string
	}{
		{time.Time{}, time.Time{}, []string{"t@2026-11.0/heron", "t@2026-11.1/heron", "t@2026-10.0/heron", "t@2026-10.1/heron", "t@2026-09/heron"}},
		{day("2026-11-15"), time.Time{}, []string{"t@2026-11.0/heron", "t@2026-11.1/heron"}},
		{day("2026-10-31"), day("2026-11-01"), []string{"t@2026-10.0/heron", "t@2026-10.1/heron"}},
		{time.Time{}, day("2026-10-01"), []string{"t@2026-09/heron"}},
		{day("2026-12-01"), time.Time{}, nil},
	} {
		if got := names(rec.Leaves(root, c.since, c.until)); !slices.Equal(got, c.want) {
			t.Errorf("leaves in [%v, %v): %v, want %v", c.since, c.until, got, c.want)
		}
	}
	handing := rec
	handing.Residual = 4
	if got := names(handing.Leaves(root, day("2026-11-15"), time.Time{})); !slices.Equal(got, []string{"t/heron"}) {
		t.Errorf("while the root hands postings down: %v, want the root alone", got)
	}

	// Owners that agree make one record; of records that differ, each
	// field is the median's, and of two the later stage of a hand-off
	// and the larger count (Agree).
	if got := Agree(root, []Split{rec, rec, rec}, nil); !reflect.DeepEqual(got, rec) {
		t.Errorf("three equal records agree on %+v, want %+v", got, rec)
	}
	other := Split{Buckets: []Bucket{{Month: "2026-08", Count: 3}, {Month: "2026-10", Count: 29000, Depth: 2}, {Month: "2026-11", Count: 49000, Depth: 2}}}
	want := Split{Buckets: []Bucket{{Month: "2026-08", Count: 3}, {Month: "2026-09", Count: 10}, {Month: "2026-10", Count: 30000, Depth: 2}, {Month: "2026-11", Count: 50000, Depth: 2}}}
	if got := Agree(root, []Split{rec, other}, nil); got.Check() != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("two records agree on %+v, want %+v", got, want)
	}
	// One liar of three records: whatever it claims of the residual, a
	// bucket's depth, its hand-off or its count, the two honest ones
	// decide; a month only it lists is a whole bucket, at most one key
	// more to ask.
	for name, lie := range map[string]func(*Split){
		"a hand-down that never ends": func(s *Split) { s.Residual = 1 << 30 },
		"deeper leaves":               func(s *Split) { s.Buckets[1].Depth = MaxSplitDepth; s.Buckets[2].Depth = MaxSplitDepth },
		"a bucket moving back up":     func(s *Split) { s.Buckets[2].Depth, s.Buckets[2].Moving = 1, true },
		"whole buckets":               func(s *Split) { s.Buckets[1].Depth, s.Buckets[2].Depth, s.Buckets[2].Moving = 0, 0, false },
		"huge counts":                 func(s *Split) { s.Buckets[0].Count, s.Buckets[2].Count = 1<<40, 1<<40 },
		"a made-up month, deep": func(s *Split) {
			s.Buckets = append([]Bucket{{Month: "2019-03", Count: 1 << 40, Depth: MaxSplitDepth}}, s.Buckets...)
		},
	} {
		liar := rec
		liar.Buckets = slices.Clone(rec.Buckets)
		lie(&liar)
		if err := liar.Check(); err != nil {
			t.Fatalf("%s: the lie fails Check: %v", name, err)
		}
		for _, records := range [][]Split{{rec, rec, liar}, {liar, rec, rec}, {rec, liar, rec}} {
			got := Agree(root, records, nil)
			if got.Check() != nil {
				t.Errorf("%s: agreed on a bad record %+v", name, got)
			}
			extra := slices.DeleteFunc(slices.Clone(got.Buckets), func(b Bucket) bool {
				return slices.ContainsFunc(rec.Buckets, func(c Bucket) bool { return c.Month == b.Month })
			})
			got.Buckets = slices.DeleteFunc(got.Buckets, func(b Bucket) bool { return slices.Contains(extra, b) })
			if !reflect.DeepEqual(got, rec) {
				t.Errorf("%s: one liar of three made the record %+v, want %+v", name, got, rec)
			}
			for _, b := range extra {
				if b.Depth != 0 || b.Count != 0 {
					t.Errorf("%s: a month only the liar lists is %+v, want a whole bucket of no count", name, b)
				}
			}
		}
	}
	// Two records that differ on a bucket's stage: weighed by what the
	// nodes of each stage hold, the earlier wins only if its nodes hold
	// more. A liar's deeper leaves hold nothing; in an honest move the
	// nodes one bit up hold every posting until the leaves hold as many.
	deep := rec
	deep.Buckets = slices.Clone(rec.Buckets)
	deep.Buckets[2].Depth, deep.Buckets[2].Moving = MaxSplitDepth, false
	settledAt2 := rec
	settledAt2.Buckets = slices.Clone(rec.Buckets)
	settledAt2.Buckets[2].Moving = false
	for _, c := range []struct {
		name      string
		other     Split
		held      map[int]int // postings the nodes at each depth hold
		wantDepth int
		wantMove  bool
	}{
		{"a liar's deeper leaves", deep, map[int]int{1: 50000, 2: 30000, 4: 0}, 2, true},
		{"a liar's deeper leaves, unweighed", deep, nil, 4, false},
		{"a move half done", settledAt2, map[int]int{1: 50000, 2: 30000}, 2, true},
		{"a move done", settledAt2, map[int]int{1: 50000, 2: 50000}, 2, false},
		{"a move done, the nodes one bit up emptied", settledAt2, map[int]int{1: 0, 2: 50000}, 2, false},
	} {
		var weigh func([]Node) (int, bool)
		if c.held != nil {
			weigh = func(nodes []Node) (int, bool) {
				for _, n := range nodes {
					if n.Month != "2026-11" || len(n.Bits) != len(nodes[0].Bits) || len(nodes) != 1<<len(n.Bits) {
						t.Fatalf("%s: weighed %v, not one depth of 2026-11", c.name, nodes)
					}
				}
				h, ok := c.held[len(nodes[0].Bits)]
				return h, ok
			}
		}
		for _, records := range [][]Split{{rec, c.other}, {c.other, rec}} {
			got := Agree(root, records, weigh)
			if b := got.Buckets[len(got.Buckets)-1]; b.Depth != c.wantDepth || b.Moving != c.wantMove {
				t.Errorf("%s: agreed on %+v, want %d bits, moving %v", c.name, b, c.wantDepth, c.wantMove)
			}
		}
	}

	var many Split
	for y := 2000; len(many.Buckets) < MaxBuckets+5; y++ {
		for m := 1; m <= 12; m++ {
			many.Buckets = append(many.Buckets, Bucket{Month: fmt.Sprintf("%d-%02d", y, m)})
		}
	}
	if many.Check() == nil {
		t.Errorf("a record of %d buckets passed", len(many.Buckets))
	}
	if u := Agree(root, []Split{many}, nil); len(u.Buckets) != MaxBuckets || u.Buckets[MaxBuckets-1] != many.Buckets[len(many.Buckets)-1] || u.Check() != nil {
		t.Errorf("a record agreed on beyond %d buckets keeps %d, the last %+v", MaxBuckets, len(u.Buckets), u.Buckets[len(u.Buckets)-1])
	}

	for _, bad := range []Split{
		{Residual: -1},
		{Buckets: []Bucket{{Month: "2026-13"}}},
		{Buckets: []Bucket{{Month: "2026-11"}, {Month: "2026-10"}}},
		{Buckets: []Bucket{{Month: "2026-11"}, {Month: "2026-11"}}},
		{Buckets: []Bucket{{Month: "2026-11", Count: -3}}},
		{Buckets: []Bucket{{Month: "2026-11", Depth: MaxSplitDepth + 1}}},
		{Buckets: []Bucket{{Month: "2026-11", Moving: true}}},
	} {
		if bad.Check() == nil {
			t.Errorf("record %+v passed", bad)
		}
	}

	// A trie's nodes are keys of a plan, for every term, stop words too.
	for _, s := range []string{"t@2026-11/heron", "t@2026-11/the", "t@2026-11.01/heron", "t@2026-11/a/b@c"} {
		k, err := Parse(s)
		if err != nil || k.String() != s || k.Shard != "" || k.Month != "2026-11" {
			t.Errorf("%s parsed as %+v (%v)", s, k, err)
		}
		n, ok := k.Node()
		if !ok || n.String() != s || !k.OfOneTrie(Key{Class: ClassTerm, Value: k.Value}) {
			t.Errorf("%s is not a node of its trie: %+v", s, n)
		}
	}
	for _, s := range []string{"a@2026-11/12D3KooWA", "l@2026-11/news", "t@2026-11.01010/heron"} {
		if k, err := Parse(s); err == nil {
			t.Errorf("%s parsed as %+v", s, k)
		}
	}
	// A node holds the posts of its month and prefix alone.
	k, _ := Parse("t@2026-11.01/heron")
	for _, c := range []struct {
		id   string
		at   time.Time
		want bool
	}{
		{"4abc", day("2026-11-03"), true},
		{"7abc", day("2026-11-30"), true},
		{"8abc", day("2026-11-03"), false},
		{"4abc", day("2026-12-01"), false},
	} {
		if got := k.Holds(c.id, c.at); got != c.want {
			t.Errorf("%s holds %s of %v: %v", k, c.id, c.at, got)
		}
	}
}

// TestAPostIsHeldByOneNodeASearchAsks: under a split record, settled,
// with a moving bucket, or while the root hands its postings down, every
// post of a month the record lists is held (NodesOf) by exactly one of
// the nodes a search asks (Leaves), and by the leaf of its bucket, where
// the hand-off ends. KeysWith puts those nodes in place of the root and
// leaves every other key as Keys gives it.
func TestAPostIsHeldByOneNodeASearchAsks(t *testing.T) {
	settled := Split{Buckets: []Bucket{{Month: "2026-09", Count: 10}, {Month: "2026-10", Count: 30000, Depth: 1}, {Month: "2026-11", Count: 50000, Depth: 3}}}
	moving := settled
	moving.Buckets = slices.Clone(settled.Buckets)
	moving.Buckets[2].Moving = true
	handing := settled
	handing.Residual = 7
	root := RootNode(ClassTerm, "heron")
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	for name, rec := range map[string]Split{"settled": settled, "moving": moving, "handing down": handing} {
		months := map[string]bool{}
		asked := map[Node]bool{}
		for _, n := range rec.Leaves(root, time.Time{}, time.Time{}) {
			asked[n] = true
		}
		for i := range 700 {
			sum := sha256.Sum256([]byte(fmt.Sprint(i)))
			id := hex.EncodeToString(sum[:])
			// From August, which no bucket lists and comes before them,
			// into December, which comes after them.
			at := start.Add(time.Duration(i-50) * 4 * time.Hour)
			nodes := rec.NodesOf(root, id, at)
			months[MonthOf(at)] = true
			switch MonthOf(at) {
			case "2026-08":
				if !slices.Equal(nodes, []Node{root}) {
					t.Errorf("%s: a post of a month before the record's is held by %v, want the root alone", name, nodes)
				}
				continue
			case "2026-12":
				want := []Node{root.BucketOf(at)}
				if rec.Residual > 0 {
					want = append(want, root)
				}
				if !slices.Equal(nodes, want) {
					t.Errorf("%s: a post of a month after the record's is held by %v, want its whole bucket %v", name, nodes, want)
				}
				continue
			}
			inAsked := 0
			for _, n := range nodes {
				if !n.Holds(id, at) {
					t.Errorf("%s: %s does not hold the post it is said to hold", name, n)
				}
				if asked[n] {
					inAsked++
				}
			}
			leaf := nodes[0]
			b := rec.Buckets[slices.IndexFunc(rec.Buckets, func(b Bucket) bool { return b.Month == MonthOf(at) })]
			if inAsked != 1 || leaf.Month != b.Month || len(leaf.Bits) != b.Depth {
				t.Errorf("%s: post %d held by %v, of which %d asked; want one asked, and its leaf at depth %d first", name, i, nodes, inAsked, b.Depth)
			}
		}
		if !months["2026-08"] || !months["2026-12"] {
			t.Fatalf("the posts span %v: the months before and after the record's are not tried", months)
		}
	}

	p := &post.Post{ID: hex.EncodeToString(make([]byte, 32)), Author: "ab", Text: "a heron by the kelp", CreatedAt: time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC)}
	got := KeysWith(p, func(k string) (Split, bool) { return settled, k == root.String() })
	want := slices.DeleteFunc(Keys(p), func(k string) bool { return k == root.String() })
	want = append(want, "t@2026-10.0/heron")
	if !testkit.SameSet(got, want) {
		t.Errorf("keys of a split term's post: %v, want %v", got, want)
	}
	if got := KeysWith(p, nil); !slices.Equal(got, Keys(p)) {
		t.Errorf("keys with no split known: %v, want %v", got, Keys(p))
	}
}

// TestThroughListsEveryMonthFromTheFirst: planners ask the leaves of
// Through, and NodesOf places a post of any month after the record's first
// in one of them: a month between two listed ones, or after the last, is a
// whole bucket in both; a month before the first stays under the root.
// Past MaxBuckets months, the newest are kept, through now.
func TestThroughListsEveryMonthFromTheFirst(t *testing.T) {
	root := RootNode(ClassTerm, "heron")
	sp := Split{Buckets: []Bucket{{Month: "2026-03", Count: 50, Depth: 1}, {Month: "2026-06", Count: 3}}}
	now := time.Date(2026, 8, 15, 0, 0, 0, 0, time.UTC)
	var months []string
	for _, b := range sp.Through(now).Buckets {
		months = append(months, b.Month)
	}
	if want := []string{"2026-03", "2026-04", "2026-05", "2026-06", "2026-07", "2026-08"}; !slices.Equal(months, want) {
		t.Fatalf("through %s: months %v, want %v", now.Format("2006-01"), months, want)
	}
	asked := map[string]bool{}
	through := sp.Through(now)
	for _, n := range through.Leaves(root, time.Time{}, time.Time{}) {
		asked[n.String()] = true
	}
	id := strings.Repeat("ab", 32)
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC), "t@2026-04/heron"},   // between two listed
		{time.Date(2026, 7, 30, 0, 0, 0, 0, time.UTC), "t@2026-07/heron"},  // after the last
		{time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), "t@2026-03.1/heron"}, // listed, one bit deep
		{time.Date(2026, 1, 9, 0, 0, 0, 0, time.UTC), "t/heron"},           // before the first
	} {
		nodes := sp.NodesOf(root, id, c.at)
		if len(nodes) != 1 || nodes[0].String() != c.want {
			t.Errorf("a post of %s goes to %v, want %s", c.at.Format("2006-01-02"), nodes, c.want)
		}
		if c.want != "t/heron" && !asked[c.want] {
			t.Errorf("a post of %s goes to %s, which planners do not ask", c.at.Format("2006-01-02"), c.want)
		}
	}
	old := Split{Buckets: []Bucket{{Month: "2010-01", Count: 9}, {Month: "2016-05", Count: 9}}}
	got := old.Through(now).Buckets
	if len(got) != MaxBuckets || got[len(got)-1].Month != "2026-08" || got[0].Month != "2016-09" {
		t.Errorf("a record from 2010 through 2026-08: %d months, %s to %s; want %d, 2016-09 to 2026-08", len(got), got[0].Month, got[len(got)-1].Month, MaxBuckets)
	}
}

// TestMedianCount: the middle answer, the larger of two middle ones, so
// that one owner that counts too many or too few moves nothing.
func TestMedianCount(t *testing.T) {
	for _, c := range []struct {
		cs   []int
		want int
	}{{nil, 0}, {[]int{5}, 5}, {[]int{7, 3}, 7}, {[]int{1, 9, 4}, 4}, {[]int{100, 1, 3, 2}, 3}, {[]int{0, 40, 40}, 40}, {[]int{40, 40, 1 << 30}, 40}} {
		if got := MedianCount(slices.Clone(c.cs)); got != c.want {
			t.Errorf("MedianCount(%v) = %d, want %d", c.cs, got, c.want)
		}
	}
}
