package keyspace

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Keys that split as they grow (docs/split-keys.md, step 1): the form of a
// node of a key's trie, and which posts it holds. Placement, planning and
// repair do not use it yet; until they do, the keys of protocol version 1
// above are the only keys on the wire.
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
	// MaxSplitDepth bounds a prefix node's bits: at most 256 prefix nodes
	// a bucket.
	MaxSplitDepth = 8
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
