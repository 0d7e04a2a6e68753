package keyspace

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Keys that split as they grow (docs/split-keys.md): the form of a node of
// a key's trie, which posts it holds, and the split record its root's
// owners keep. Planners ask a split term's leaves, and nodes place, hold
// and repair its posts under them (KeysWith), once they know its record;
// until owners split keys by themselves, no record is known on a live
// network and the keys of protocol version 1 above are the only keys on
// the wire.
//
// A node is a root key, the root narrowed to one UTC month of the posts'
// created_at (a bucket), or a bucket narrowed to a binary prefix of the
// post ID (a prefix node). Its wire form puts what narrows it in the part
// before the first slash, which this package writes alone, so that the
// value after it may hold any character (a label may hold '/' or '@'):
//
//	t/<term>                 a root, as protocol version 1 writes an unsplit term
//	t@2026-11/<term>         the posts of November 2026 (UTC)
//	t@2026-11.0110/<term>    of those, the posts whose ID starts with the bits 0110
//
// Authors (a) and labels (l) take the same forms.
const (
	// SplitAt is how many postings a key's owners hold (the median of
	// their counts) when it splits: a root into buckets, a bucket or a
	// prefix node into its two children. 20,000 postings are a few MB of
	// index at each owner.
	SplitAt = 20_000
	// MaxBuckets bounds the months a root lists: ten years.
	MaxBuckets = 120
	// MaxSplitDepth bounds a prefix node's bits: at most 16 prefix nodes
	// a bucket, so a bucket holds up to 16 times SplitAt postings before
	// its owners hold more than SplitAt each. Four bits are the post ID's
	// first hex digit, which the index keeps (index.FieldShard), so an
	// owner answers for a prefix node without a field of its own.
	MaxSplitDepth = 4
)

// Node is a node of a key's trie.
type Node struct {
	Class string // ClassTerm, ClassAuthor or ClassLabel
	Value string // the term, author or lower-cased label
	// Month is the bucket, "YYYY-MM" of the posts' created_at in UTC; ""
	// for a root.
	Month string
	// Bits is the prefix of the post ID, in bits ('0' or '1'), at most
	// MaxSplitDepth of them; "" for a root or a whole bucket.
	Bits string
}

// RootNode is the root of the trie of class's value.
func RootNode(class, value string) Node { return Node{Class: class, Value: value} }

// ParseNode parses a node's wire form and checks it: a known class, a
// value, a valid month, and bits only below a month.
func ParseNode(s string) (Node, error) {
	head, value, ok := strings.Cut(s, "/")
	if !ok || value == "" {
		return Node{}, fmt.Errorf("trie key %q has no value", s)
	}
	class, narrow, bucketed := strings.Cut(head, "@")
	n := Node{Class: class, Value: value}
	switch class {
	case ClassTerm, ClassAuthor, ClassLabel:
	default:
		return Node{}, fmt.Errorf("trie key %q has unknown class %q", s, class)
	}
	if !bucketed {
		return n, nil
	}
	month, bits, prefixed := strings.Cut(narrow, ".")
	if !validMonth(month) {
		return Node{}, fmt.Errorf("trie key %q: month %q is not YYYY-MM", s, month)
	}
	n.Month = month
	if prefixed {
		if bits == "" || len(bits) > MaxSplitDepth || strings.Trim(bits, "01") != "" {
			return Node{}, fmt.Errorf("trie key %q: prefix %q is not 1 to %d bits", s, bits, MaxSplitDepth)
		}
		n.Bits = bits
	}
	return n, nil
}

// validMonth reports whether m is "YYYY-MM" with a month from 01 to 12 of
// the years 1970 to 9999.
func validMonth(m string) bool {
	if len(m) != 7 || m[4] != '-' {
		return false
	}
	for i, c := range []byte(m) {
		if i != 4 && (c < '0' || c > '9') {
			return false
		}
	}
	year, _ := strconv.Atoi(m[:4])
	month, _ := strconv.Atoi(m[5:])
	return year >= 1970 && month >= 1 && month <= 12
}

// String is the node's wire form.
func (n Node) String() string {
	switch {
	case n.Month == "":
		return n.Class + "/" + n.Value
	case n.Bits == "":
		return n.Class + "@" + n.Month + "/" + n.Value
	default:
		return n.Class + "@" + n.Month + "." + n.Bits + "/" + n.Value
	}
}

// Root is the root of the node's trie.
func (n Node) Root() Node { return Node{Class: n.Class, Value: n.Value} }

// Depth is how many times the root was narrowed to reach the node: 0 for
// the root, 1 for a bucket, 1 plus the bits for a prefix node.
func (n Node) Depth() int {
	if n.Month == "" {
		return 0
	}
	return 1 + len(n.Bits)
}

// MonthOf is the bucket month of a post created at t: "YYYY-MM" in UTC.
func MonthOf(t time.Time) string { return t.UTC().Format("2006-01") }

// MonthSpan is the time a bucket month covers, [start, end) in UTC.
func MonthSpan(month string) (start, end time.Time, err error) {
	start, err = time.Parse("2006-01", month)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("bucket month %q: %w", month, err)
	}
	return start, start.AddDate(0, 1, 0), nil
}

// BucketOf is the bucket of the root's trie that a post created at t
// falls in.
func (n Node) BucketOf(t time.Time) Node {
	return Node{Class: n.Class, Value: n.Value, Month: MonthOf(t)}
}

// PrefixOf is the first depth bits of a post ID (hex), as '0' and '1'; ""
// for an ID that does not start with enough hex digits.
func PrefixOf(id string, depth int) string {
	var b strings.Builder
	for i := 0; b.Len() < depth; i++ {
		if i >= len(id) {
			return ""
		}
		v, err := strconv.ParseUint(id[i:i+1], 16, 8)
		if err != nil {
			return ""
		}
		for bit := 3; bit >= 0 && b.Len() < depth; bit-- {
			b.WriteByte('0' + byte(v>>bit&1))
		}
	}
	return b.String()
}

// Children are the two nodes a bucket or a prefix node splits into, by
// one more bit of the post ID. A root splits into buckets (BucketOf), and
// a node at MaxSplitDepth bits does not split.
func (n Node) Children() ([2]Node, error) {
	switch {
	case n.Month == "":
		return [2]Node{}, fmt.Errorf("trie key %s is a root: it splits into months", n)
	case len(n.Bits) >= MaxSplitDepth:
		return [2]Node{}, fmt.Errorf("trie key %s is at the deepest split, %d bits", n, MaxSplitDepth)
	}
	zero, one := n, n
	zero.Bits += "0"
	one.Bits += "1"
	return [2]Node{zero, one}, nil
}

// Holds reports whether a post with the given ID, created at t, falls in
// the node: in its month, and its ID starts with the node's bits. The
// post's term, author or label is the key's business (Key.Contains).
func (n Node) Holds(id string, t time.Time) bool {
	if n.Month == "" {
		return true
	}
	if MonthOf(t) != n.Month {
		return false
	}
	return n.Bits == "" || PrefixOf(id, len(n.Bits)) == n.Bits
}

// ChildFor is the child of n that a post with the given ID, created at t,
// falls in: its bucket for a root, else the child by the next bit. It
// fails for a post n does not hold, and where n does not split.
func (n Node) ChildFor(id string, t time.Time) (Node, error) {
	if !n.Holds(id, t) {
		return Node{}, fmt.Errorf("trie key %s does not hold post %s", n, id)
	}
	if n.Month == "" {
		return n.BucketOf(t), nil
	}
	children, err := n.Children()
	if err != nil {
		return Node{}, err
	}
	bits := PrefixOf(id, len(n.Bits)+1)
	if bits == "" {
		return Node{}, fmt.Errorf("post ID %q has too few hex digits for %d bits", id, len(n.Bits)+1)
	}
	return children[bits[len(bits)-1]-'0'], nil
}

// Bucket is one month of a split root's trie, as the root's owners record
// it: how many postings the month holds, and how deep its prefix nodes go.
type Bucket struct {
	// Month is "YYYY-MM" (UTC).
	Month string `json:"month" cbor:"1,keyasint"`
	// Count is how many postings the bucket's trie holds.
	Count int `json:"count,omitempty" cbor:"2,keyasint,omitempty"`
	// Depth is the bits of the bucket's leaves: 0 when the bucket itself
	// is the leaf, up to MaxSplitDepth.
	Depth int `json:"depth,omitempty" cbor:"3,keyasint,omitempty"`
	// Moving says the bucket's nodes of Depth-1 bits are handing their
	// postings down to the leaves: until they are done, they still hold
	// every posting of theirs, and a search asks them instead of the
	// leaves.
	Moving bool `json:"moving,omitempty" cbor:"4,keyasint,omitempty"`
}

// Split is what the owners of a split root report with its count: the
// postings the root still holds to hand down to its buckets (its
// residual), and the root's buckets, oldest first. While the residual is
// above 0 the root still holds every posting of its trie, and a search
// asks it alone.
type Split struct {
	Residual int      `json:"residual,omitempty" cbor:"1,keyasint,omitempty"`
	Buckets  []Bucket `json:"buckets,omitempty" cbor:"2,keyasint,omitempty"`
}

// Check refuses a split record no honest owner sends: more than MaxBuckets
// months, months out of order or repeated, a depth beyond MaxSplitDepth, a
// moving bucket of no depth, or a negative count.
func (s *Split) Check() error {
	if s.Residual < 0 {
		return fmt.Errorf("split record: residual %d", s.Residual)
	}
	if len(s.Buckets) > MaxBuckets {
		return fmt.Errorf("split record: %d buckets, at most %d", len(s.Buckets), MaxBuckets)
	}
	for i, b := range s.Buckets {
		switch {
		case !validMonth(b.Month):
			return fmt.Errorf("split record: bucket %q is not a month", b.Month)
		case i > 0 && b.Month <= s.Buckets[i-1].Month:
			return fmt.Errorf("split record: bucket %s after %s", b.Month, s.Buckets[i-1].Month)
		case b.Count < 0:
			return fmt.Errorf("split record: bucket %s counts %d", b.Month, b.Count)
		case b.Depth < 0 || b.Depth > MaxSplitDepth:
			return fmt.Errorf("split record: bucket %s is %d bits deep, at most %d", b.Month, b.Depth, MaxSplitDepth)
		case b.Moving && b.Depth == 0:
			return fmt.Errorf("split record: bucket %s moves to depth 0", b.Month)
		}
	}
	return nil
}

// Total is the postings of the whole trie: the residual and every bucket.
func (s *Split) Total() int {
	n := s.Residual
	for _, b := range s.Buckets {
		n += b.Count
	}
	return n
}

// Agree is the record a planner or a learning owner takes from the
// records several owners of root sent (each passed Check), so that no
// one owner among three steers it (docs/split-keys.md, "What an attacker
// can do with it"). It lists every month any of them lists, so that no
// leaf an honest owner names is missed; a month a record does not list
// votes as a whole bucket holding nothing there. Each field is the median
// of the records' votes:
//   - the residual, and each bucket's depth and moving flag, taken as one
//     stage of its hand-off (a whole bucket, moving to 1 bit, at 1 bit,
//     moving to 2 bits, ...);
//   - each bucket's count.
//
// An honest owner only moves forward through a hand-off, and one that is
// behind has not caught up yet, so of two votes the later stage and the
// larger count win. When a bucket's votes split evenly between two
// stages (two records, one of them a liar's), and weigh is not nil, the
// stages are weighed by what their nodes hold (weigh, as those nodes'
// owners count it): the earlier wins only if its nodes hold more, so that
// a liar cannot send planners to nodes that hold nothing by claiming a
// later stage. One lying owner cannot make planners ask the root after
// the hand-down, nor leaves or nodes that hold nothing instead of those
// that hold the posts. Past MaxBuckets months, the newest are kept. With
// no record, Agree is the zero Split.
func Agree(root Node, records []Split, weigh func([]Node) (int, bool)) Split {
	if len(records) == 0 {
		return Split{}
	}
	residuals := make([]int, len(records))
	for i, r := range records {
		residuals[i] = r.Residual
	}
	slices.Sort(residuals)
	out := Split{Residual: residuals[(len(residuals)-1)/2]} // the smaller of two: a later stage
	var months []string
	for _, r := range records {
		for _, b := range r.Buckets {
			months = append(months, b.Month)
		}
	}
	slices.Sort(months)
	months = slices.Compact(months)
	if n := len(months); n > MaxBuckets {
		months = months[n-MaxBuckets:] // the newest
	}
	stages := make([]int, len(records))
	counts := make([]int, len(records))
	for _, m := range months {
		for i, r := range records {
			stages[i], counts[i] = 0, 0
			if b, _, ok := r.Bucket(m); ok {
				stages[i], counts[i] = stageOf(b), b.Count
			}
		}
		slices.Sort(stages)
		slices.Sort(counts)
		stage := stages[len(stages)/2] // the later of two
		if n := len(stages); n%2 == 0 && weigh != nil && stages[n/2-1] != stage {
			earlier := stages[n/2-1]
			bucket := Node{Class: root.Class, Value: root.Value, Month: m}
			if held, ok := weighStage(bucket, earlier, weigh); ok {
				if later, ok := weighStage(bucket, stage, weigh); ok && held > later {
					stage = earlier
				}
			}
		}
		b := bucketAt(stage)
		b.Month, b.Count = m, counts[len(counts)/2]
		out.Buckets = append(out.Buckets, b)
	}
	return out
}

// weighStage is what the nodes a search asks for bucket at stage hold,
// by weigh.
func weighStage(bucket Node, stage int, weigh func([]Node) (int, bool)) (int, bool) {
	b := bucketAt(stage)
	depth := b.Depth
	if b.Moving {
		depth--
	}
	return weigh(prefixNodes(bucket, depth))
}

// stageOf is how far b's hand-off has gone: 2 stages a bit of depth, the
// first of them while it moves.
func stageOf(b Bucket) int {
	if b.Moving {
		return 2*b.Depth - 1
	}
	return 2 * b.Depth
}

// bucketAt is the depth and moving flag of a hand-off's stage (stageOf).
func bucketAt(stage int) Bucket {
	return Bucket{Depth: (stage + 1) / 2, Moving: stage%2 == 1}
}

// Leaves are the nodes of root's trie a search asks for the postings
// created in [since, until) (a zero bound is open), as s describes it:
// the root alone while it hands postings down (its residual is above 0);
// else the leaves of every bucket in range, newest bucket first, or, for
// a moving bucket, its nodes one bit up, which hold its postings until
// the hand-off is done. The nodes asked never share a posting, so their
// counts add up to the matches.
func (s *Split) Leaves(root Node, since, until time.Time) []Node {
	if s.Residual > 0 {
		return []Node{root}
	}
	var out []Node
	for i := len(s.Buckets) - 1; i >= 0; i-- {
		b := s.Buckets[i]
		start, end, err := MonthSpan(b.Month)
		if err != nil {
			continue // Check refuses it
		}
		if !until.IsZero() && !start.Before(until) || !since.IsZero() && !end.After(since) {
			continue
		}
		depth := b.Depth
		if b.Moving {
			depth--
		}
		out = append(out, prefixNodes(Node{Class: root.Class, Value: root.Value, Month: b.Month}, depth)...)
	}
	return out
}

// Bucket is the bucket s lists for month ("YYYY-MM"), and whether it
// lists one; i is where it is or would go in s.Buckets.
func (s *Split) Bucket(month string) (b Bucket, i int, found bool) {
	i, found = slices.BinarySearchFunc(s.Buckets, month, func(b Bucket, m string) int { return strings.Compare(b.Month, m) })
	if found {
		b = s.Buckets[i]
	}
	return b, i, found
}

// NodesOf are the nodes of root's trie that hold a post with the given ID,
// created at t, as s describes the split: the leaf of the post's bucket,
// and while the bucket moves to its depth, the node one bit up; while the
// root hands its postings down (its residual is above 0), the root too. A
// month after the first one s lists that s does not list (after its last,
// or between two it lists) is a bucket of its own, whole, which the root's
// owners list as its month comes; a month before the first stays under
// the root, whose owners list it and hand it down. These are the keys a
// node places and holds the post under, and the nodes a search asks (the
// Leaves of Through) hold it.
func (s *Split) NodesOf(root Node, id string, t time.Time) []Node {
	month := MonthOf(t)
	b, i, found := s.Bucket(month)
	switch {
	case found:
	case i > 0:
		b = Bucket{Month: month}
	default:
		return []Node{root}
	}
	leaf := root.BucketOf(t)
	leaf.Bits = PrefixOf(id, b.Depth)
	out := []Node{leaf}
	if b.Moving && leaf.Bits != "" {
		up := leaf
		up.Bits = up.Bits[:len(up.Bits)-1]
		out = append(out, up)
	}
	if s.Residual > 0 {
		out = append(out, root)
	}
	return out
}

// Through is s with every month it does not list, from its first through
// the month of now (after its last, or between two it lists), as a whole
// bucket: the buckets NodesOf puts posts of those months in before the
// root's owners list them. Planners ask the leaves of s.Through(now), so
// that a record a little old misses no post of the months since, and a
// month that had no post when the term split misses none that came
// after. Past MaxBuckets, the oldest months are left out.
func (s Split) Through(now time.Time) Split {
	n := len(s.Buckets)
	if n == 0 {
		return s
	}
	first, _, err := MonthSpan(s.Buckets[0].Month)
	if err != nil {
		return s
	}
	end, _, err := MonthSpan(max(MonthOf(now), s.Buckets[n-1].Month))
	if err != nil {
		return s
	}
	// The newest MaxBuckets months, from the first listed at the earliest.
	from := end.AddDate(0, 1-MaxBuckets, 0)
	if first.After(from) {
		from = first
	}
	out := s
	out.Buckets = make([]Bucket, 0, n)
	j := 0
	for m := from; !m.After(end); m = m.AddDate(0, 1, 0) {
		month := MonthOf(m)
		for j < n && s.Buckets[j].Month < month {
			j++ // a month before the window
		}
		if j < n && s.Buckets[j].Month == month {
			out.Buckets = append(out.Buckets, s.Buckets[j])
			j++
		} else {
			out.Buckets = append(out.Buckets, Bucket{Month: month})
		}
	}
	return out
}

// prefixNodes are the 2^depth prefix nodes of a bucket with depth bits.
func prefixNodes(bucket Node, depth int) []Node {
	out := make([]Node, 0, 1<<depth)
	for v := range 1 << depth {
		n := bucket
		if depth > 0 {
			n.Bits = fmt.Sprintf("%0*b", depth, v)
		}
		out = append(out, n)
	}
	return out
}

// MedianCount is the count of a key its owners agree on: the median of
// their answers, and of two middle ones the larger (an owner still missing
// posts counts fewer), so that no one owner moves it. cs is sorted in
// place; 0 for none.
func MedianCount(cs []int) int {
	if len(cs) == 0 {
		return 0
	}
	slices.Sort(cs)
	return cs[len(cs)/2]
}

// SumOf adds up the counts of nodes, by their keys; ok is false unless
// every one of them was counted.
func SumOf(nodes []Node, counts map[string]int) (sum int, ok bool) {
	for _, n := range nodes {
		c, ok := counts[n.String()]
		if !ok {
			return 0, false
		}
		sum += c
	}
	return sum, true
}
