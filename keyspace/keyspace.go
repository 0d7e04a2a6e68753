// Package keyspace is murmur's key scheme, part of the wire protocol: which
// keys a post is stored under (a key per distinct term of its text, which
// splits by time and post ID as it grows, its author and its label, always
// split into 16 shards), the
// form of a key, and which posts and index field a key covers. Owners of a
// key are the peers closest to it in the DHT's keyspace (package p2p);
// searches restrict an owner's index to a key's posts (package query).
package keyspace

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/post"
)

// The key scheme (protocol version 4). A key is a class letter, a slash and
// a value, with a shard suffix where the class is split:
//
//	t/<term>          a term of the text (protocol analyzer), stop words too
//	a/<peer ID>/<h>   the author, always split: one node signs every post it imports
//	l/<label>/<h>     the author label of imported and crawled posts, always split
//
// A term whose owners hold SplitAt of its posts splits into the nodes of a
// trie, a month each and further by the post ID (trie.go, Split): a stop
// word as any other. Protocol version 3 split the stop words of eight
// languages 16 ways by the post ID's first hex digit from their first post
// (t/<term>/<h>); a small network paid 16 exchanges for each of their
// searches, and a large one could not split them further nor by time.
const (
	ClassTerm   = "t"
	ClassAuthor = "a"
	ClassLabel  = "l"
)

// HotShards is how many keys an author or a label is split into, by the
// first hex digit of the post ID.
const HotShards = 16

// MaxHotTerms bounds the hot terms a peer may list in one summary group
// (netsearch.CheckSummary).
const MaxHotTerms = 4000

// hotTermsFile is the pinned list of hot terms, one per line, sorted: the
// stop words of eight languages (English, German, Spanish, French,
// Italian, Portuguese, Russian, Czech), taken from bleve's stop lists once,
// the head of every microblog's Zipf curve. Up to protocol version 3 it
// was protocol (those terms were split 16 ways); now a stop word's key
// splits by count like any term's, and the list names the query mix's
// "hot" kind (internal/sim, bench) and the terms an attacker's grind
// skips. It stays pinned so that those figures compare across versions.
//
//go:embed hot_terms.txt
var hotTermsFile string

// HotTermsDigest is the SHA-256 of hot_terms.txt, in hex. Nodes compare
// it nowhere on the wire; it pins the file.
const HotTermsDigest = "b2bb1f21d3b8bfea3a9a4fe8a94dfb471f696d85ba6a237e351b6eaa63a73d50"

var (
	hotOnce  sync.Once
	hotTerms map[string]bool
)

func loadHotTerms() {
	if sum := sha256.Sum256([]byte(hotTermsFile)); hex.EncodeToString(sum[:]) != HotTermsDigest {
		panic("keyspace: hot_terms.txt is not the list this protocol version pins (HotTermsDigest)")
	}
	terms := strings.Split(strings.TrimSuffix(hotTermsFile, "\n"), "\n")
	hotTerms = make(map[string]bool, len(terms))
	for _, t := range terms {
		hotTerms[t] = true
	}
}

// HotTerms returns the hot terms, sorted.
func HotTerms() []string {
	hotOnce.Do(loadHotTerms)
	out := make([]string, 0, len(hotTerms))
	for t := range hotTerms {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// IsHot reports whether term is a stop word of the pinned list. It does not
// change the term's keys (TermKeys).
func IsHot(term string) bool {
	hotOnce.Do(loadHotTerms)
	return hotTerms[term]
}

// ShardOf is the shard of a post in a split key: the first hex digit of
// its ID, which the index also stores as the post's shard field
// (index.ShardOf).
func ShardOf(id string) string { return index.ShardOf(id) }

// TermKey is the key a post is stored under for term, until the term
// splits (Split): every term's, stop words' too.
func TermKey(term string) string { return ClassTerm + "/" + term }

// TermKeys lists the keys of term: its one key (a split term's nodes come
// from its record, Split.Leaves).
func TermKeys(term string) []string { return []string{TermKey(term)} }

// AuthorKeys lists the keys of an author's posts.
func AuthorKeys(author string) []string { return splitKeys(ClassAuthor, author) }

// LabelKeys lists the keys of the posts with an author label.
// ProfileKey is the key whose owners keep an author's profile: the first
// of the author's keys.
func ProfileKey(author string) string { return AuthorKeys(author)[0] }

func LabelKeys(label string) []string { return splitKeys(ClassLabel, strings.ToLower(label)) }

func splitKeys(class, value string) []string {
	out := make([]string, HotShards)
	for i := range out {
		out[i] = fmt.Sprintf("%s/%s/%x", class, value, i)
	}
	return out
}

// Keys returns every key a post is stored under, without duplicates.
func Keys(p *post.Post) []string {
	terms := index.Terms(p.Text)
	out := make([]string, 0, len(terms)+2)
	for _, t := range terms {
		out = append(out, TermKey(t))
	}
	sh := ShardOf(p.ID)
	out = append(out, ClassAuthor+"/"+p.Author+"/"+sh)
	if p.Label != "" {
		out = append(out, ClassLabel+"/"+strings.ToLower(p.Label)+"/"+sh)
	}
	return out
}

// KeysWith is Keys for a node that knows how some terms are split:
// splitOf gives the split record of a root key, if it is split. A split
// term's root gives way to the nodes of its trie that hold the post
// (Split.NodesOf). A nil splitOf is Keys.
func KeysWith(p *post.Post, splitOf func(root string) (Split, bool)) []string {
	return WithSplits(Keys(p), p, splitOf)
}

// WithSplits is KeysWith for a post whose Keys are known already.
func WithSplits(keys []string, p *post.Post, splitOf func(root string) (Split, bool)) []string {
	if splitOf == nil {
		return keys
	}
	var out []string
	for i, k := range keys {
		sp, ok := splitOf(k)
		if !ok {
			if out != nil {
				out = append(out, k)
			}
			continue
		}
		if out == nil {
			out = append(make([]string, 0, len(keys)+2), keys[:i]...)
		}
		root := RootNode(ClassTerm, strings.TrimPrefix(k, ClassTerm+"/"))
		for _, n := range sp.NodesOf(root, p.ID, p.CreatedAt) {
			out = append(out, n.String())
		}
	}
	if out == nil {
		return keys
	}
	return out
}

// Key is a parsed key.
type Key struct {
	Class string // ClassTerm, ClassAuthor or ClassLabel
	Value string // the term, author or lower-cased label
	Shard string // "" for an unsplit term key, else one hex digit
	// Month and Bits narrow a node of a split term's trie (Node): its
	// bucket, and the bucket's prefix of the post ID. Both are "" for the
	// keys of protocol version 1.
	Month, Bits string
}

// Parse splits a key into its parts and checks its form: a term key is
// split exactly when its term is hot; author and label keys always are.
func Parse(k string) (Key, error) {
	class, rest, ok := strings.Cut(k, "/")
	if !ok || rest == "" {
		return Key{}, fmt.Errorf("key %q has no value", k)
	}
	if strings.Contains(class, "@") {
		return parseTrieKey(k)
	}
	key := Key{Class: class, Value: rest}
	if n := len(rest); n > 2 && rest[n-2] == '/' && isHexDigit(rest[n-1]) {
		key.Value, key.Shard = rest[:n-2], rest[n-1:]
	}
	switch class {
	case ClassTerm:
		key.Value, key.Shard = rest, "" // a term is one key; a term may end in "/x"
	case ClassAuthor, ClassLabel:
		if key.Shard == "" {
			return Key{}, fmt.Errorf("key %q has no shard", k)
		}
	default:
		return Key{}, fmt.Errorf("key %q has unknown class %q", k, class)
	}
	return key, nil
}

// parseTrieKey parses a bucket or a prefix node of a split term's trie.
// Until stop words and authors split by count (docs/split-keys.md, step
// 4), only the terms that protocol version 1 keeps whole have a trie.
func parseTrieKey(k string) (Key, error) {
	n, err := ParseNode(k)
	if err != nil {
		return Key{}, err
	}
	if n.Class != ClassTerm {
		return Key{}, fmt.Errorf("key %q: only a term splits by time", k)
	}
	return Key{Class: n.Class, Value: n.Value, Month: n.Month, Bits: n.Bits}, nil
}

// Node is the key as a node of its trie; a key of protocol version 1 that
// is not a term's whole key is not one.
func (k Key) Node() (Node, bool) {
	if k.Shard != "" {
		return Node{}, false
	}
	return Node{Class: k.Class, Value: k.Value, Month: k.Month, Bits: k.Bits}, true
}

// OfOneTrie reports whether k and o are nodes of one root's trie (the root
// among them): the nodes of a plan never share a posting (Split.Leaves).
func (k Key) OfOneTrie(o Key) bool {
	return k.Shard == "" && o.Shard == "" && (k.Month != "" || o.Month != "") && k.Class == o.Class && k.Value == o.Value
}

func isHexDigit(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

// Matches reports whether a post's ID falls in the key's shard. A node of
// a trie needs the post's time as well (Holds).
func (k Key) Matches(id string) bool { return k.Shard == "" || ShardOf(id) == k.Shard }

// Holds reports whether a post with the given ID, created at t, falls in
// the key's shard or, for a node of a trie, in its bucket and prefix.
func (k Key) Holds(id string, t time.Time) bool {
	if !k.Matches(id) {
		return false
	}
	n, ok := k.Node()
	return !ok || n.Holds(id, t)
}

// Name is the key's class as metrics label it: "term" (a split term's
// trie nodes too), "author" or "label". Protocol 3 labelled a stop word's
// shards "hot".
func (k Key) Name() string {
	switch k.Class {
	case ClassAuthor:
		return NameAuthor
	case ClassLabel:
		return NameLabel
	default:
		return NameTerm
	}
}

// Names of the key classes, as metrics label them (Key.Name).
const (
	NameTerm   = "term"
	NameAuthor = "author"
	NameLabel  = "label"
)

// String is the key's wire form.
func (k Key) String() string {
	if k.Month != "" {
		n, _ := k.Node()
		return n.String()
	}
	if k.Shard == "" {
		return k.Class + "/" + k.Value
	}
	return k.Class + "/" + k.Value + "/" + k.Shard
}

// Contains reports whether a post is stored under the key: it has the
// key's term, author or label, and falls in its shard.
func (k Key) Contains(p *post.Post) bool {
	return k.ContainsWith(p, func(t string) bool { return slices.Contains(index.Terms(p.Text), t) })
}

// ContainsWith is Contains for a post whose text was analyzed already:
// hasTerm reports whether the text holds a term.
func (k Key) ContainsWith(p *post.Post, hasTerm func(string) bool) bool {
	if !k.Holds(p.ID, p.CreatedAt) {
		return false
	}
	switch k.Class {
	case ClassTerm:
		return hasTerm(k.Value)
	case ClassAuthor:
		return p.Author == k.Value
	case ClassLabel:
		return strings.ToLower(p.Label) == k.Value
	}
	return false
}

// CheckSpan checks that ks are distinct shards of one split key, as a
// span of keys answered together must be: their posts are then disjoint.
func CheckSpan(ks []Key) error {
	if len(ks) == 0 || len(ks) > HotShards {
		return fmt.Errorf("a span of %d keys", len(ks))
	}
	seen := make(map[string]bool, len(ks))
	for _, k := range ks {
		switch {
		case k.Shard == "":
			return fmt.Errorf("a span holds the unsplit key %s/%s", k.Class, k.Value)
		case k.Class != ks[0].Class || k.Value != ks[0].Value:
			return fmt.Errorf("a span holds shards of %s/%s and %s/%s", ks[0].Class, ks[0].Value, k.Class, k.Value)
		case seen[k.Shard]:
			return fmt.Errorf("a span holds shard %s of %s/%s twice", k.Shard, k.Class, k.Value)
		}
		seen[k.Shard] = true
	}
	return nil
}

// ShardsOfOneKey reports whether k and o are both shards of one split key,
// whose posts no two of them share.
func (k Key) ShardsOfOneKey(o Key) bool {
	return k.Shard != "" && o.Shard != "" && k.Class == o.Class && k.Value == o.Value
}

// ParseAll parses the keys of a plan.
func ParseAll(keys []string) ([]Key, error) {
	out := make([]Key, len(keys))
	for i, k := range keys {
		pk, err := Parse(k)
		if err != nil {
			return nil, fmt.Errorf("plan key %q: %w", k, err)
		}
		out[i] = pk
	}
	return out, nil
}

// OfField lists the keys a query leaf on an index field is stored under:
// an author's or a label's shards, or a term's key or keys.
func OfField(field, value string) []string {
	switch field {
	case index.FieldAuthor:
		return AuthorKeys(value)
	case index.FieldLabel:
		return LabelKeys(value)
	default:
		return TermKeys(value)
	}
}

// Field is the index field that holds the key's value.
func (k Key) Field() string {
	switch k.Class {
	case ClassAuthor:
		return index.FieldAuthor
	case ClassLabel:
		return index.FieldLabel
	default:
		return index.FieldText
	}
}
