package query

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	bleveQuery "github.com/blevesearch/bleve/v2/search/query"
	bleveIndex "github.com/blevesearch/bleve_index_api"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/cborwire"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
)

// Sort is the order of search results.
type Sort string

const (
	// SortTop orders by relevance (BM25 score), best first; the default.
	SortTop Sort = "top"
	// SortLatest orders by creation time, newest first.
	SortLatest Sort = "latest"
)

// Scopes of a search.
const (
	// ScopeNetwork searches the whole network: the default.
	ScopeNetwork = "network"
	// ScopeLocal searches the node's own index only.
	ScopeLocal = "local"
)

// Limits on the number of hits per page.
const (
	// DefaultLimit is the page size when a request gives none.
	DefaultLimit = 20
	// MaxLimit is the largest page size.
	MaxLimit = 1000
)

// Request is one search: a query in the query language, the order and page
// size, the cursor of the previous page, and filters that act as the lang:,
// since: and until: clauses of the query.
type Request struct {
	// Scope is ScopeNetwork (the default) or ScopeLocal.
	Scope  string
	Q      string
	Sort   Sort
	Limit  int
	Cursor string
	Lang   string
	Since  string
	Until  string
}

// RequestError reports a bad request parameter other than the query text.
type RequestError struct{ Msg string }

// Error returns the message.
func (e *RequestError) Error() string { return e.Msg }

// SearchError wraps the error of a search of q; one the query's own terms
// caused (a prefix, wildcard or fuzzy term that expands too far) becomes a
// *RequestError that says which limit it hit.
func SearchError(q string, err error) error {
	if errors.Is(err, index.ErrTooManyTerms) {
		return &RequestError{Msg: fmt.Sprintf("query %q: %s", q, strings.TrimPrefix(err.Error(), "search index: "))}
	}
	return fmt.Errorf("search %q: %w", q, err)
}

// Searcher runs a bleve search; *bleve.Index values satisfy it through
// SearchInContext with a small adapter.
type Searcher interface {
	Search(ctx context.Context, req *bleve.SearchRequest) (*bleve.SearchResult, error)
}

// Span is a byte range [Start, End) of a post's text that matched a term.
type Span struct{ Start, End int }

// Hit is one verified post that matched.
type Hit struct {
	Post *post.Post
	// Raw is the post's stored encoding, as it was signed.
	Raw   string
	Score float64
	// Sort holds the values the hit sorts by, as search-after takes them.
	Sort    []string
	Matches []Span
}

// ShardCounts says how many shards of the network's index a search asked,
// how many answered and how many failed (no owner answered).
type ShardCounts struct {
	Asked, Answered, Failed int
}

// How the statistics a network search scored with were gathered: the
// values of Result.Ranking.
const (
	// RankingNetwork: complete figures from every node asked, so the
	// ranking is the one a single index over every post would give.
	RankingNetwork = "network"
	// RankingPartial: figures gathered while some nodes did not answer;
	// their keys were counted from their other owners where those answered.
	RankingPartial = "partial"
	// RankingLastGood: the latest gathering missed nodes, so the last
	// complete figures (at most two minutes old) were used.
	RankingLastGood = "last_good"
	// RankingLocal: no network figures could be gathered; each owner
	// scored with its own index's, so scores of different shards compare
	// only roughly.
	RankingLocal = "local"
)

// Result is one page of search results.
type Result struct {
	// Shards and Partial describe a network search: Partial is set when a
	// shard failed, so matches may be missing. A local search asks one
	// shard, the node's own index.
	Shards  ShardCounts
	Partial bool
	// BestEffort marks a query the network cannot route (no term, author or
	// label that every match holds): it was asked of a bounded number of
	// peers, and may miss matches that none of them holds.
	BestEffort bool
	// Scope is "network" or "local".
	Scope string
	// Ranking says which statistics a network search scored with (the
	// Ranking* values); empty for a local search.
	Ranking string
	// RoundTrips counts the sequential rounds of requests a network search
	// made (statistics, fan-out, refills); PeersAsked the distinct peers it
	// asked for hits, this node included when it owns a key.
	RoundTrips, PeersAsked int
	Hits                   []Hit
	// Total is the number of matching documents in the index.
	Total uint64
	// NextCursor fetches the next page; empty on the last page.
	NextCursor string
	// Took is how long the search and verification took.
	Took time.Duration
	// Dropped counts hits of this page whose stored post failed to decode
	// or verify; they are left out of Hits.
	Dropped int
	// LabelSigners says, for each from:LABEL of the query, who signed the
	// page's posts carrying that label (LabelSignersOf).
	LabelSigners []LabelSigners
}

// Prepared is a validated request: the query with its filters, the order,
// the page size and where the cursor resumes.
type Prepared struct {
	// Expr is the parsed query with the request's filters joined in.
	Expr Expr
	// Sort is the order; never empty.
	Sort Sort
	// Limit is the page size.
	Limit int
	// After holds the sort values of the last hit of the previous page, or
	// nil on the first page.
	After []string
	// Ranking is how the network statistics of the search were gathered
	// (Ranking*), carried by the cursor from page to page.
	Ranking string
	// Stats are the network statistics the previous page was scored with
	// (nil for a local cursor); a network search keeps them for every page
	// so that scores, and so the cursor, stay consistent.
	Stats *index.Stats

	hash string
}

// Prepare validates req. Bad query text yields a *SyntaxError, other bad
// parameters a *RequestError.
func Prepare(req Request) (*Prepared, error) {
	p := &Prepared{Sort: req.Sort, Limit: req.Limit}
	switch p.Sort {
	case "":
		p.Sort = SortTop
	case SortTop, SortLatest:
	default:
		return nil, &RequestError{Msg: fmt.Sprintf("sort %q is unknown; use top or latest", string(req.Sort))}
	}
	switch {
	case p.Limit == 0:
		p.Limit = DefaultLimit
	case p.Limit < 0 || p.Limit > MaxLimit:
		return nil, &RequestError{Msg: fmt.Sprintf("limit %d is out of range; use 1 to %d", req.Limit, MaxLimit)}
	}
	pq, err := parseRequest(req, p.Sort)
	if err != nil {
		return nil, err
	}
	p.Expr, p.hash = pq.expr, pq.hash
	if req.Cursor != "" {
		c, err := decodeCursor(req.Cursor, p.hash, p.Sort)
		if err != nil {
			return nil, err
		}
		p.After = c.A
		p.Stats = c.stats(PositiveTerms(p.Expr))
		if p.Stats != nil {
			if err := p.Stats.Check(); err != nil {
				return nil, &RequestError{Msg: "cursor is not valid: " + err.Error()}
			}
			p.Ranking = c.R
		}
	}
	return p, nil
}

// ParsedCacheSize is how many parsed queries a process keeps: a node
// parses the query of each search it runs and of each request it answers
// as an owner, and the same queries come again and again.
const ParsedCacheSize = 4096

// parsedKey is what a parsed query depends on.
type parsedKey struct {
	q, lang, since, until string
	sort                  Sort
}

// parsedQuery is a request's query with its filters joined in, and its
// hash; never changed once made (no Expr is changed after parsing), so
// every Prepared of the same request shares it.
type parsedQuery struct {
	expr Expr
	hash string
}

var parsedQueries, _ = lru.New[parsedKey, parsedQuery](ParsedCacheSize)

// parseRequest parses req's query and joins its filters in, or takes the
// result for the very same request from a bounded memory. Errors are not
// remembered.
func parseRequest(req Request, s Sort) (parsedQuery, error) {
	k := parsedKey{q: req.Q, lang: req.Lang, since: req.Since, until: req.Until, sort: s}
	if pq, ok := parsedQueries.Get(k); ok {
		return pq, nil
	}
	n, err := Parse(req.Q)
	if err != nil {
		return parsedQuery{}, err
	}
	children := []Expr{n}
	if a, ok := n.(*And); ok {
		children = append([]Expr(nil), a.Children...)
	}
	for _, f := range []struct{ name, value string }{{"lang", req.Lang}, {"since", req.Since}, {"until", req.Until}} {
		if f.value == "" {
			continue
		}
		fn, err := fieldNode(f.name, f.value, 0)
		if err != nil {
			var se *SyntaxError
			if errors.As(err, &se) {
				return parsedQuery{}, &RequestError{Msg: "parameter " + se.Msg}
			}
			return parsedQuery{}, &RequestError{Msg: fmt.Sprintf("parameter %s: %v", f.name, err)}
		}
		children = append(children, fn)
	}
	expr := makeAnd(children)
	pq := parsedQuery{expr: expr, hash: queryHash(expr.String(), s)}
	parsedQueries.Add(k, pq)
	return pq, nil
}

// keyQuery matches the posts stored under a key of the network: those
// whose field holds its value and, when it is a shard, whose shard field
// holds it.
func keyQuery(k keyspace.Key) bleveQuery.Query {
	q := bleveQuery.NewTermQuery(k.Value)
	q.SetField(k.Field())
	parts := append([]bleveQuery.Query{q}, trieQuery(k)...)
	if k.Shard != "" {
		parts = append(parts, shardQuery(k.Shard))
	}
	if len(parts) == 1 {
		return q
	}
	return bleveQuery.NewConjunctionQuery(parts)
}

// shardQuery matches the posts whose ID starts with the hex digit h.
func shardQuery(h string) bleveQuery.Query {
	q := bleveQuery.NewTermQuery(h)
	q.SetField(index.FieldShard)
	return q
}

// trieQuery matches the posts a node of a split term's trie holds beside
// its term: created in its month, and with an ID that starts with its
// bits (the first hex digits those bits allow, index.FieldShard). It is
// empty for any other key.
func trieQuery(k keyspace.Key) []bleveQuery.Query {
	if k.Month == "" {
		return nil
	}
	start, end, err := keyspace.MonthSpan(k.Month)
	if err != nil {
		return nil // keyspace.Parse checked the month
	}
	incl, excl := true, false
	month := bleveQuery.NewDateRangeInclusiveQuery(start, end, &incl, &excl)
	month.SetField(index.FieldCreatedAt)
	out := []bleveQuery.Query{month}
	if k.Bits == "" {
		return out
	}
	var digits []bleveQuery.Query
	for v := range 16 {
		hex := strconv.FormatInt(int64(v), 16)
		if keyspace.PrefixOf(hex, len(k.Bits)) == k.Bits {
			digits = append(digits, shardQuery(hex))
		}
	}
	if len(digits) == 1 {
		return append(out, digits[0])
	}
	return append(out, bleveQuery.NewDisjunctionQuery(digits))
}

// spanQuery matches the posts under any of ks, distinct shards of one key
// (or one key alone). With implied, every match of the query is known to
// hold the key's term, and only the shards are filtered. It returns a nil
// filter when nothing needs filtering: the query implies the term and ks
// are all of its shards, or its one unsplit key. A span of more than half
// of a key's shards is told by the shards it lacks, excluded: a search
// then checks each match against those few posting lists instead of
// walking most of the key's.
func spanQuery(ks []keyspace.Key, implied bool) (filter bleveQuery.Query, excluded []bleveQuery.Query) {
	if len(ks) == 1 && !implied {
		return keyQuery(ks[0]), nil
	}
	var shards []bleveQuery.Query
	if ks[0].Shard != "" && len(ks) < keyspace.HotShards {
		in := make(map[string]bool, len(ks))
		for _, k := range ks {
			in[k.Shard] = true
		}
		for v := range keyspace.HotShards {
			hex := strconv.FormatInt(int64(v), 16)
			switch {
			case 2*len(ks) > keyspace.HotShards && !in[hex]:
				excluded = append(excluded, shardQuery(hex))
			case 2*len(ks) <= keyspace.HotShards && in[hex]:
				shards = append(shards, shardQuery(hex))
			}
		}
	}
	var parts []bleveQuery.Query
	if !implied {
		t := bleveQuery.NewTermQuery(ks[0].Value)
		t.SetField(ks[0].Field())
		parts = append(parts, t)
	}
	parts = append(parts, trieQuery(ks[0])...)
	switch len(shards) {
	case 0:
	case 1:
		parts = append(parts, shards[0])
	default:
		parts = append(parts, bleveQuery.NewDisjunctionQuery(shards))
	}
	switch len(parts) {
	case 0:
		return nil, excluded
	case 1:
		return parts[0], excluded
	}
	return bleveQuery.NewConjunctionQuery(parts), excluded
}

// unscored is a query that restricts a search and adds nothing to a
// score: its searcher runs with scoring and term locations off (a match
// scores 0, and bleve then reads no frequencies or norms), and weighs
// nothing in its parent's query norm, so that a conjunction with it
// scores exactly what its other clauses do.
type unscored struct{ q bleveQuery.Query }

func (u unscored) Searcher(ctx context.Context, i bleveIndex.IndexReader, m mapping.IndexMapping, options search.SearcherOptions) (search.Searcher, error) {
	options.Score, options.IncludeTermVectors, options.Explain = "none", false, false
	s, err := u.q.Searcher(ctx, i, m, options)
	if err != nil {
		return nil, err
	}
	return weightless{s}, nil
}

// weightless is a searcher that a parent's query norm leaves out.
type weightless struct{ search.Searcher }

func (weightless) Weight() float64      { return 0 }
func (weightless) SetQueryNorm(float64) {}

// Implies reports whether every post that matches e is under the unsplit
// term key k: the query itself then restricts a search to k, and a filter
// on k would only walk the term's postings a second time.
func Implies(e Expr, k keyspace.Key) bool {
	if k.Class != keyspace.ClassTerm || k.Shard != "" {
		return false
	}
	want := Leaf{Field: index.FieldText, Value: k.Value}
	leaves, ok := Plan(e, func(l Leaf) float64 {
		if l == want {
			return 0
		}
		return 1
	})
	return ok && len(leaves) == 1 && leaves[0] == want
}

// SearchRequest returns the bleve request for size hits after p.After,
// restricted to the posts under keys[i] and under none of keys[:i], so that
// the keys of one plan share out the matches without overlap. With no keys
// it searches the whole index.
func (p *Prepared) SearchRequest(keys []keyspace.Key, i, size int) (*bleve.SearchRequest, error) {
	return p.SearchSpan(keys, i, 1, size)
}

// SearchSpan is SearchRequest for the posts under any of keys[i:i+span],
// distinct shards of one split key (keyspace.CheckSpan), and under none of
// keys[:i]: one search answers for all of them.
func (p *Prepared) SearchSpan(keys []keyspace.Key, i, span, size int) (*bleve.SearchRequest, error) {
	q, err := Compile(p.Expr)
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 {
		if i < 0 || i > len(keys) || span < 1 || span > len(keys)-i {
			return nil, fmt.Errorf("keys %d to %d of %d", i, i+span, len(keys))
		}
		ks := keys[i : i+span]
		if span > 1 {
			if err := keyspace.CheckSpan(ks); err != nil {
				return nil, err
			}
		}
		// When the query holds the key's term wherever it matches, the
		// term need not be walked again: only the shards filter.
		implied := Implies(p.Expr, keyspace.Key{Class: ks[0].Class, Value: ks[0].Value})
		f, excluded := spanQuery(ks, implied)
		var not []bleveQuery.Query
		for _, k := range keys[:i] {
			// The shards or trie nodes of one key share its posts out
			// already.
			if k.ShardsOfOneKey(ks[0]) || k.OfOneTrie(ks[0]) {
				continue
			}
			not = append(not, keyQuery(k))
		}
		if f != nil || len(not) > 0 || len(excluded) > 0 {
			// The keys' part is a clause of the search that scores
			// nothing (unscored), so that the search leaps between its
			// matches and the query's, and scores and locates only the
			// posts that match both. As a filter, bleve scored every
			// match of the query first: all of an author's postings
			// for a span of a few of its shards. The shards a span lacks
			// and the keys before it are excluded: a match is checked
			// against them. Neither changes a score.
			must := []bleveQuery.Query{q}
			if f != nil {
				must = append(must, unscored{f})
			}
			q = bleveQuery.NewBooleanQuery(must, nil, append(excluded, not...))
		}
	}
	sr := bleve.NewSearchRequestOptions(q, size, 0, false)
	sr.Fields = []string{index.FieldPost}
	sr.IncludeLocations = true
	if p.Sort == SortLatest {
		sr.SortByCustom(search.SortOrder{
			&search.SortField{Field: index.FieldCreatedAt, Type: search.SortFieldAsDate, Mode: search.SortFieldDefault, Missing: search.SortFieldMissingLast, Desc: true},
			&search.SortDocID{},
		})
	} else {
		sr.SortBy([]string{"-_score", "_id"})
	}
	if p.After != nil {
		sr.SetSearchAfter(p.After)
	}
	return sr, nil
}

// Run validates req, searches s and verifies every hit's stored post. Bad
// query text yields a *SyntaxError, other bad parameters a *RequestError.
func Run(ctx context.Context, s Searcher, req Request) (*Result, error) {
	start := time.Now()
	p, err := Prepare(req)
	if err != nil {
		return nil, err
	}
	// One hit more than the page tells whether another page follows.
	sr, err := p.SearchRequest(nil, 0, p.Limit+1)
	if err != nil {
		return nil, err
	}
	res, err := s.Search(ctx, sr)
	if err != nil {
		return nil, SearchError(req.Q, err)
	}
	out := &Result{Total: res.Total, Scope: ScopeLocal, Shards: ShardCounts{Asked: 1, Answered: 1}}
	hits := res.Hits
	if len(hits) > p.Limit {
		hits = hits[:p.Limit]
		last := hits[len(hits)-1]
		after, err := sortValues(p.Sort, last)
		if err != nil {
			return nil, err
		}
		out.NextCursor = encodeCursor(p.hash, after, nil, nil, "")
	}
	now := time.Now()
	for _, h := range hits {
		hit, err := HitOf(p.Sort, h, now)
		if err != nil {
			out.Dropped++
			continue
		}
		out.Hits = append(out.Hits, *hit)
	}
	out.Took = time.Since(start)
	return out, nil
}

// EncodedHit is a hit as it travels between nodes: the signed post as its
// author encoded it, its score, the values that resume after it, and the
// byte spans of its text that matched.
type EncodedHit struct {
	Post  json.RawMessage  `json:"post,omitempty" cbor:"1,keyasint,omitempty"`
	Score float64          `json:"score" cbor:"2,keyasint,omitempty"`
	Sort  cborwire.Strings `json:"sort" cbor:"3,keyasint,omitempty"`
	Spans [][2]int         `json:"spans,omitempty" cbor:"4,keyasint,omitempty"`
	// decoded is the hit itself, for one that never leaves this node
	// (EncodeDecoded); a hit from the wire never has it.
	decoded *Hit
}

// EncodeDigest is a bleve hit as an owner sends it in a digest: its score
// and sort values (which name its ID), without the post.
func EncodeDigest(s Sort, h *search.DocumentMatch) (EncodedHit, error) {
	after, err := sortValues(s, h)
	if err != nil {
		return EncodedHit{}, err
	}
	return EncodedHit{Score: h.Score, Sort: after}, nil
}

// Encode is a bleve hit of the local index as an owner sends it to a
// querier: the stored post as it is, unverified again (the querier
// verifies it).
func Encode(s Sort, h *search.DocumentMatch) (EncodedHit, error) {
	raw, ok := h.Fields[index.FieldPost].(string)
	if !ok {
		return EncodedHit{}, fmt.Errorf("hit %s has no stored post", h.ID)
	}
	e, err := EncodeDigest(s, h)
	if err != nil {
		return EncodedHit{}, err
	}
	e.Post = json.RawMessage(raw)
	if sps := spans(h, len(raw)); len(sps) > 0 {
		e.Spans = make([][2]int, len(sps))
		for i, sp := range sps {
			e.Spans[i] = [2]int{sp.Start, sp.End}
		}
	}
	return e, nil
}

// EncodeDecoded is Encode for a hit that does not leave this node (the
// querier's own answer to itself): it keeps the hit decoded and checked at
// now (HitOf), which Check returns as it is, and carries no encoded post.
// It saves copying the stored post and looking it up again among the
// posts kept decoded.
func EncodeDecoded(s Sort, h *search.DocumentMatch, now time.Time) (EncodedHit, error) {
	hit, err := HitOf(s, h, now)
	if err != nil {
		return EncodedHit{}, err
	}
	return EncodedHit{Score: hit.Score, Sort: hit.Sort, decoded: hit}, nil
}

// Check turns a hit a peer sent into a Hit: it verifies the post's
// signature and ID and checks that the sort values belong to it. Whether
// the post matches the query is checked by Matches.
func (e EncodedHit) Check(s Sort, now time.Time) (*Hit, error) {
	if e.decoded != nil {
		return e.decoded, nil // decoded and checked by this node (EncodeDecoded)
	}
	pp, err := post.DecodeCached(e.Post, now)
	if err != nil {
		return nil, err
	}
	if len(e.Sort) != 2 || e.Sort[1] != pp.ID {
		return nil, fmt.Errorf("hit %s: sort values do not name it", pp.ID)
	}
	if s == SortLatest {
		// An owner sorts a post dated ahead of its clock at the time it
		// received it (index.DocumentOf): at most post.MaxFutureSkew early.
		t, err := time.Parse(time.RFC3339Nano, e.Sort[0])
		if err != nil || t.After(pp.CreatedAt) || t.Before(pp.CreatedAt.Add(-post.MaxFutureSkew*time.Second)) {
			return nil, fmt.Errorf("hit %s: sort time is not its creation time or the time it was received", pp.ID)
		}
	} else if f, err := strconv.ParseFloat(e.Sort[0], 64); err != nil || f != e.Score {
		return nil, fmt.Errorf("hit %s: sort value is not its score", pp.ID)
	}
	var ok []Span
	for _, m := range e.Spans {
		if m[0] >= 0 && m[1] > m[0] && m[1] <= len(pp.Text) {
			ok = append(ok, Span{Start: m[0], End: m[1]})
		}
	}
	return &Hit{Post: pp, Raw: string(e.Post), Score: e.Score, Sort: e.Sort, Matches: ok}, nil
}

// HitOf decodes and verifies the stored post of a bleve hit and keeps its
// score, sort values and matched spans.
func HitOf(s Sort, h *search.DocumentMatch, now time.Time) (*Hit, error) {
	raw, ok := h.Fields[index.FieldPost].(string)
	if !ok {
		return nil, fmt.Errorf("hit %s has no stored post", h.ID)
	}
	pp, err := post.DecodeCachedString(raw, now)
	if err != nil {
		return nil, fmt.Errorf("hit %s: %w", h.ID, err)
	}
	after, err := sortValues(s, h)
	if err != nil {
		return nil, err
	}
	return &Hit{Post: pp, Raw: raw, Score: h.Score, Sort: after, Matches: spans(h, len(pp.Text))}, nil
}

// sortValues returns the SearchAfter values that resume after hit.
func sortValues(s Sort, h *search.DocumentMatch) ([]string, error) {
	if s == SortLatest {
		if len(h.DecodedSort) != 2 {
			return nil, fmt.Errorf("search hit %s: %d sort values, want 2", h.ID, len(h.DecodedSort))
		}
		if _, err := time.Parse(time.RFC3339Nano, h.DecodedSort[0]); err != nil {
			return nil, fmt.Errorf("search hit %s has no creation time: %w", h.ID, err)
		}
		return []string{h.DecodedSort[0], h.ID}, nil
	}
	return []string{strconv.FormatFloat(h.Score, 'g', -1, 64), h.ID}, nil
}

// spans collects the byte ranges of the text that matched, sorted and
// without duplicates.
func spans(h *search.DocumentMatch, textLen int) []Span {
	locs := h.Locations[index.FieldText]
	n := 0
	for _, ls := range locs {
		n += len(ls)
	}
	if n == 0 {
		return nil
	}
	out := make([]Span, 0, n)
	for _, ls := range locs {
		for _, l := range ls {
			if l == nil || l.End <= l.Start || l.End > uint64(textLen) {
				continue
			}
			out = append(out, Span{Start: int(l.Start), End: int(l.End)})
		}
	}
	slices.SortFunc(out, func(a, b Span) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.End, b.End))
	})
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil
	}
	return out
}
