package query

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"

	"github.com/murmur-p2p/murmur/index"
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

// Searcher runs a bleve search; *bleve.Index values satisfy it through
// SearchInContext with a small adapter.
type Searcher interface {
	Search(ctx context.Context, req *bleve.SearchRequest) (*bleve.SearchResult, error)
}

// Span is a byte range [Start, End) of a post's text that matched a term.
type Span struct{ Start, End int }

// Hit is one verified post that matched.
type Hit struct {
	Post    *post.Post
	Score   float64
	Matches []Span
}

// Result is one page of search results.
type Result struct {
	Hits []Hit
	// Total is the number of matching documents in the index.
	Total uint64
	// NextCursor fetches the next page; empty on the last page.
	NextCursor string
	// Took is how long the search and verification took.
	Took time.Duration
	// Dropped counts hits of this page whose stored post failed to decode
	// or verify; they are left out of Hits.
	Dropped int
}

// plan is a validated request.
type plan struct {
	node  Node
	sort  Sort
	limit int
	after []string
}

func prepare(req Request) (*plan, error) {
	p := &plan{sort: req.Sort, limit: req.Limit}
	switch p.sort {
	case "":
		p.sort = SortTop
	case SortTop, SortLatest:
	default:
		return nil, &RequestError{Msg: fmt.Sprintf("sort %q is unknown; use top or latest", string(req.Sort))}
	}
	switch {
	case p.limit == 0:
		p.limit = DefaultLimit
	case p.limit < 0 || p.limit > MaxLimit:
		return nil, &RequestError{Msg: fmt.Sprintf("limit %d is out of range; use 1 to %d", req.Limit, MaxLimit)}
	}
	n, err := Parse(req.Q)
	if err != nil {
		return nil, err
	}
	children := []Node{n}
	if a, ok := n.(*And); ok {
		children = append([]Node(nil), a.Children...)
	}
	for _, f := range []struct{ name, value string }{{"lang", req.Lang}, {"since", req.Since}, {"until", req.Until}} {
		if f.value == "" {
			continue
		}
		fn, err := fieldNode(f.name, f.value, 0)
		if err != nil {
			var se *SyntaxError
			if errors.As(err, &se) {
				return nil, &RequestError{Msg: "parameter " + se.Msg}
			}
			return nil, &RequestError{Msg: fmt.Sprintf("parameter %s: %v", f.name, err)}
		}
		children = append(children, fn)
	}
	p.node = makeAnd(children)
	if req.Cursor != "" {
		p.after, err = decodeCursor(req.Cursor, queryHash(p.node.String(), p.sort), p.sort)
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Run validates req, searches s and verifies every hit's stored post. Bad
// query text yields a *SyntaxError, other bad parameters a *RequestError.
func Run(ctx context.Context, s Searcher, req Request) (*Result, error) {
	start := time.Now()
	p, err := prepare(req)
	if err != nil {
		return nil, err
	}
	q, err := Compile(p.node)
	if err != nil {
		return nil, err
	}
	// One hit more than the page tells whether another page follows.
	sr := bleve.NewSearchRequestOptions(q, p.limit+1, 0, false)
	sr.Fields = []string{index.FieldPost}
	sr.IncludeLocations = true
	if p.sort == SortLatest {
		sr.SortByCustom(search.SortOrder{
			&search.SortField{Field: index.FieldCreatedAt, Type: search.SortFieldAsDate, Mode: search.SortFieldDefault, Missing: search.SortFieldMissingLast, Desc: true},
			&search.SortDocID{},
		})
	} else {
		sr.SortBy([]string{"-_score", "_id"})
	}
	if p.after != nil {
		sr.SetSearchAfter(p.after)
	}
	res, err := s.Search(ctx, sr)
	if err != nil {
		return nil, fmt.Errorf("search %q: %w", req.Q, err)
	}
	out := &Result{Total: res.Total}
	hits := res.Hits
	if len(hits) > p.limit {
		hits = hits[:p.limit]
		last := hits[len(hits)-1]
		after, err := sortValues(p.sort, last)
		if err != nil {
			return nil, err
		}
		out.NextCursor = encodeCursor(queryHash(p.node.String(), p.sort), after)
	}
	now := time.Now()
	for _, h := range hits {
		raw, ok := h.Fields[index.FieldPost].(string)
		if !ok {
			out.Dropped++
			continue
		}
		pp, err := post.Decode([]byte(raw), now)
		if err != nil {
			out.Dropped++
			continue
		}
		out.Hits = append(out.Hits, Hit{Post: pp, Score: h.Score, Matches: spans(h, len(pp.Text))})
	}
	out.Took = time.Since(start)
	return out, nil
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
	var out []Span
	for _, locs := range h.Locations[index.FieldText] {
		for _, l := range locs {
			if l == nil || l.End <= l.Start || l.End > uint64(textLen) {
				continue
			}
			out = append(out, Span{Start: int(l.Start), End: int(l.End)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Start != out[j].Start {
			return out[i].Start < out[j].Start
		}
		return out[i].End < out[j].End
	})
	dedup := out[:0]
	for _, s := range out {
		if len(dedup) == 0 || s != dedup[len(dedup)-1] {
			dedup = append(dedup, s)
		}
	}
	if len(dedup) == 0 {
		return nil
	}
	return dedup
}
