// Package netsearch runs searches across the network. A Coordinator plans
// a query into keys (package keyspace), asks an owner of each key over a
// Transport (package p2p provides it) to search its share, hedged over the
// key's other owners, merges their answers into one page and asks again the
// shards that held more; it keeps the network's statistics that owners
// score with (each key's count, the collection totals). Answer is the
// owner's side: a shard of a plan searched on the local index. Tests drive
// a Coordinator with a fake Transport.
package netsearch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/cborwire"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/query"
)

// Request asks an owner to search its shard of the index. It carries the
// query in murmur's own language, not a bleve request: the owner parses and
// compiles it with the same bounded parser as its API, so a peer cannot make
// it run queries (regular expressions, geo, vectors) the language does not
// have.
type Request struct {
	Query string `json:"q" cbor:"1,keyasint,omitempty"`
	Lang  string `json:"lang,omitempty" cbor:"2,keyasint,omitempty"`
	Since string `json:"since,omitempty" cbor:"3,keyasint,omitempty"`
	Until string `json:"until,omitempty" cbor:"4,keyasint,omitempty"`
	Sort  string `json:"sort,omitempty" cbor:"5,keyasint,omitempty"`
	// Size is how many hits to return, after After; 0 asks for the
	// counts alone.
	Size  int              `json:"size" cbor:"6,keyasint,omitempty"`
	After cborwire.Strings `json:"after,omitempty" cbor:"7,keyasint,omitempty"`
	// Keys are the keys of the querier's plan; the owner answers for
	// Keys[Index] and leaves out posts under any earlier key, so the
	// answers of a plan never overlap. No keys means the whole index (a
	// best-effort search).
	Keys  []string `json:"keys,omitempty" cbor:"8,keyasint,omitempty"`
	Index int      `json:"index" cbor:"9,keyasint,omitempty"`
	// Span is how many keys, from Keys[Index] on, the owner answers for
	// together: shards of one split key that have the same owners, whose
	// posts are disjoint, so that one search over their union answers for
	// all of them. 0 and 1 both mean Keys[Index] alone.
	Span int `json:"span,omitempty" cbor:"10,keyasint,omitempty"`
	// Stats are the network's statistics to score with; nil means the
	// owner's own.
	Stats *index.Stats `json:"stats,omitempty" cbor:"11,keyasint,omitempty"`
	// Digest asks for a digest of the hits instead of the hits
	// (Response.Digest): a second owner's answer that the querier compares
	// with the first's, and fetches whole only when it holds hits the
	// first left out; or a split key's shards asked for digests first.
	Digest bool `json:"digest,omitempty" cbor:"12,keyasint,omitempty"`
	// DigestSum asks for the checksum of the digest alone
	// (Response.DigestSum): an owner that only confirms another's digest.
	DigestSum bool `json:"digest_sum,omitempty" cbor:"13,keyasint,omitempty"`

	// askedAt is set on a request this node sends itself (searchOne): its
	// own answer keeps each hit decoded, checked at this time
	// (query.EncodeDecoded), instead of encoding it for a wire it never
	// crosses. Unexported, so never on the wire: a peer cannot set it.
	askedAt time.Time
}

// Response is an owner's answer: its hits in order, how many posts of its
// shard match, and how many posts it holds under the key it answered for.
type Response struct {
	Hits  []query.EncodedHit `json:"hits,omitempty" cbor:"1,keyasint,omitempty"`
	Total uint64             `json:"total" cbor:"2,keyasint,omitempty"`
	Count int                `json:"count" cbor:"3,keyasint,omitempty"`
	// Counts are the posts the owner holds under each key of a span, in
	// order (Count is the first).
	Counts []int `json:"counts,omitempty" cbor:"4,keyasint,omitempty"`
	// Refused says why the owner would not run the query, when the query
	// itself is at fault (a term that expands too far): every owner would
	// refuse it alike.
	Refused string `json:"refused,omitempty" cbor:"5,keyasint,omitempty"`
	// Digest answers a request for a digest: one DigestEntry per hit, in
	// order, in place of Hits.
	Digest cborwire.Pairs `json:"digest,omitempty" cbor:"6,keyasint,omitempty"`
	// DigestSum answers a request for a digest's checksum: SumDigest of
	// the entries the owner would have sent.
	DigestSum cborwire.String `json:"digest_sum,omitempty" cbor:"7,keyasint,omitempty"`
	// Lent says the owner served the request beyond the querier's rate,
	// from its spare capacity (p2p's lending): the querier's loan grows
	// only on such answers, and charges any other to its paced share.
	Lent bool `json:"lent,omitempty" cbor:"8,keyasint,omitempty"`
}

// MarkLent sets Lent (p2p's lending marks the answers it lent).
func (r *Response) MarkLent() { r.Lent = true }

// WasLent reports Lent.
func (r *Response) WasLent() bool { return r.Lent }

// DigestIDChars is how much of a post's ID a digest entry carries: 128
// bits, which no one can make two posts share (2^64 tries to find any
// pair), and half the bytes of the whole ID.
const DigestIDChars = 32

// Bounds of a digest's parts.
const (
	// MaxDigestEntry bounds one digest entry: a sort value (a score or a
	// time) and an ID prefix.
	MaxDigestEntry = 96
	// MaxDigestSum bounds a digest's checksum (SumDigest sends 32 hex
	// characters).
	MaxDigestSum = 64
)

// DigestEntry is one hit of a digest: its sort value (the score, or the
// time sorted by) and the first DigestIDChars characters of its post's ID,
// separated by a space. sort holds a hit's sort values: value, then ID.
func DigestEntry(sort []string) string {
	id := sort[1]
	if len(id) > DigestIDChars {
		id = id[:DigestIDChars]
	}
	return sort[0] + " " + id
}

// ParseDigestEntry splits a digest entry into its sort value and ID
// prefix, and checks that the prefix is DigestIDChars lower-case hex
// characters and the value one that s sorts by.
func ParseDigestEntry(s query.Sort, entry string) (value, id string, err error) {
	value, id, ok := strings.Cut(entry, " ")
	if !ok || len(id) != DigestIDChars || strings.Trim(id, "0123456789abcdef") != "" {
		return "", "", fmt.Errorf("digest entry %.40q: want a sort value and %d hex characters of an ID", entry, DigestIDChars)
	}
	if err := query.CheckAfter(s, []string{value, id}); err != nil {
		return "", "", fmt.Errorf("digest entry: %w", err)
	}
	return value, id, nil
}

// SumDigest is the checksum of a digest's entries: the hex of the first 16
// bytes of the SHA-256 of the entries, each followed by a newline.
func SumDigest(entries []string) string {
	h := sha256.New()
	for _, e := range entries {
		h.Write([]byte(e))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// SpanKeys are the keys req asks an owner to answer for: Keys[Index] and
// the rest of its span, none for a whole-index search. req must have
// passed CheckRequest.
func (req *Request) SpanKeys() []string {
	if len(req.Keys) == 0 {
		return nil
	}
	return req.Keys[req.Index : req.Index+max(req.Span, 1)]
}

// SetCounts sets how many posts the owner holds under the keys req asked
// for (count gives one key's): Count for the first, and Counts for every
// key of a span. req must have passed CheckRequest.
func (m *Response) SetCounts(req *Request, count func(key string) int) {
	keys := req.SpanKeys()
	if len(keys) == 0 {
		return
	}
	m.Count = count(keys[0])
	if len(keys) > 1 {
		m.Counts = make([]int, len(keys))
		for j, k := range keys {
			m.Counts[j] = count(k)
		}
	}
}

// RefusedError is an owner's refusal of a query it judged at fault.
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return e.Msg }

// Summary is one node's figures for the network's collection statistics,
// per owner group it is a member of (see Coordinator.Totals).
type Summary struct {
	Groups []GroupFigures `json:"groups" cbor:"1,keyasint,omitempty"`
}

// GroupFigures are the figures of the keys whose owners, by the sender's
// view, are exactly Owners (sorted peer IDs, the sender among them): the
// posts under author keys, the unsplit term keys that hold posts, and the
// split terms with a node of their trie there that holds posts.
type GroupFigures struct {
	Owners []string `json:"owners" cbor:"1,keyasint,omitempty"`
	Posts  uint64   `json:"posts" cbor:"2,keyasint,omitempty"`
	Terms  uint64   `json:"terms" cbor:"3,keyasint,omitempty"`
	// Hot are the split terms with a node of their trie there (at most
	// MaxGroupSplitTerms). Protocol 3 named the stop words, then split 16
	// ways by shard, here too; the field kept its name.
	Hot []string `json:"hot,omitempty" cbor:"4,keyasint,omitempty"`
}

// Bounds of the search and stats protocols: what a peer may ask of an owner
// and what a querier takes from one.
const (
	// MaxKeys bounds the keys of one plan.
	MaxKeys = 256
	// MaxSize bounds the hits of one answer.
	MaxSize = 1001
	// MaxStatsTerms bounds the document frequencies a request carries, and
	// the key counts a stats request asks.
	MaxStatsTerms = 256
	// MaxQueryBytes bounds the query text (as the query package does).
	MaxQueryBytes = 1024
	// MaxSummaryGroups bounds the owner groups of one summary: a node is a
	// member of a few dozen in a network of any size.
	MaxSummaryGroups = 1024
	// MaxGroupOwners bounds the owners of one group (R is at most this).
	MaxGroupOwners = 16
	// MaxGroupFigure bounds the posts or terms one group may claim: four
	// billion posts under one group's keys is beyond any node's disk.
	MaxGroupFigure = 1 << 32
	// MaxKeyCount bounds the count of one key a peer may report.
	MaxKeyCount = 1 << 32
	// MaxSummaryHot bounds the hot terms of one summary, over its groups.
	MaxSummaryHot = 64 * keyspace.MaxHotTerms
	// MaxGroupSplitTerms bounds the split terms one group may name among
	// its hot terms: terms of which it holds a node of the trie
	// (docs/split-keys.md).
	MaxGroupSplitTerms = 256
)

// Timing of a search.
const (
	// OwnerTimeout bounds one owner's answer to a search or a stats request.
	OwnerTimeout = 5 * time.Second
	// HedgeDelay is how long a querier waits for an owner before asking
	// another replica of the same key as well.
	HedgeDelay = 250 * time.Millisecond
)

// ErrImplausible marks statistics no honest node sends: negative counts,
// figures beyond any node's disk, more groups or hot terms than exist.
var ErrImplausible = errors.New("implausible statistics")

// CheckRequest bounds a search request a peer sent.
func CheckRequest(m *Request) error {
	switch {
	case len(m.Query) > MaxQueryBytes:
		return fmt.Errorf("search query of %d bytes, limit %d", len(m.Query), MaxQueryBytes)
	case m.Size < 0 || m.Size > MaxSize:
		return fmt.Errorf("search size %d; want 0 (counts alone) to %d", m.Size, MaxSize)
	case len(m.After) > 2:
		return fmt.Errorf("search after %d values, want at most 2", len(m.After))
	case len(m.Keys) > MaxKeys:
		return fmt.Errorf("search with %d keys, limit %d", len(m.Keys), MaxKeys)
	case len(m.Keys) > 0 && (m.Index < 0 || m.Index >= len(m.Keys)):
		return fmt.Errorf("search index %d of %d keys", m.Index, len(m.Keys))
	case m.Span < 0 || m.Span > 1 && (len(m.Keys) == 0 || m.Span > len(m.Keys)-m.Index):
		return fmt.Errorf("search span %d from key %d of %d", m.Span, m.Index, len(m.Keys))
	case m.Stats != nil && len(m.Stats.DocFreq) > MaxStatsTerms:
		return fmt.Errorf("search with %d term statistics, limit %d", len(m.Stats.DocFreq), MaxStatsTerms)
	}
	if m.Stats != nil {
		if err := m.Stats.Check(); err != nil {
			return fmt.Errorf("search %w", err)
		}
	}
	for _, a := range m.After {
		if len(a) > 256 {
			return errors.New("search after value too long")
		}
	}
	parsed, err := keyspace.ParseAll(m.Keys)
	if err != nil {
		return err
	}
	if m.Span > 1 {
		return keyspace.CheckSpan(parsed[m.Index : m.Index+m.Span])
	}
	return nil
}

// CheckResponse bounds an owner's answer to a request of size hits over
// span keys.
func CheckResponse(m *Response, size, span int) error {
	if len(m.Hits) > min(size, MaxSize) {
		return fmt.Errorf("search answer with %d hits, asked for %d", len(m.Hits), size)
	}
	if len(m.Digest) > min(size, MaxSize) {
		return fmt.Errorf("search digest with %d entries, asked for %d", len(m.Digest), size)
	}
	for _, e := range m.Digest {
		if len(e) > MaxDigestEntry {
			return fmt.Errorf("search digest entry of %d bytes, limit %d", len(e), MaxDigestEntry)
		}
	}
	if len(m.DigestSum) > MaxDigestSum {
		return fmt.Errorf("search digest checksum of %d bytes", len(m.DigestSum))
	}
	if len(m.Counts) > max(span, 1) {
		return fmt.Errorf("search answer with %d key counts for %d keys", len(m.Counts), max(span, 1))
	}
	if err := CheckCounts(m.Counts); err != nil {
		return err
	}
	return CheckCounts([]int{m.Count})
}

// CheckCounts refuses key counts no owner could hold.
func CheckCounts(counts []int) error {
	for _, c := range counts {
		if c < 0 || c > MaxKeyCount {
			return fmt.Errorf("%w: a key count of %d", ErrImplausible, c)
		}
	}
	return nil
}

// CheckSummary refuses a summary beyond what any node holds.
func CheckSummary(s *Summary) error {
	if len(s.Groups) > MaxSummaryGroups {
		return fmt.Errorf("%w: %d owner groups, limit %d", ErrImplausible, len(s.Groups), MaxSummaryGroups)
	}
	hot := 0
	for _, g := range s.Groups {
		hot += len(g.Hot)
		switch {
		case len(g.Owners) == 0 || len(g.Owners) > MaxGroupOwners:
			return fmt.Errorf("%w: a group of %d owners", ErrImplausible, len(g.Owners))
		case g.Posts > MaxGroupFigure || g.Terms > MaxGroupFigure:
			return fmt.Errorf("%w: a group of %d posts and %d terms", ErrImplausible, g.Posts, g.Terms)
		case len(g.Hot) > keyspace.MaxHotTerms || hot > MaxSummaryHot:
			return fmt.Errorf("%w: %d hot terms", ErrImplausible, hot)
		}
	}
	return nil
}
