package query

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
)

// Rescorable reports whether a querier can recompute the scores of the
// query's hits itself: the query is sorted by score, expands no pattern
// (prefix, wildcard and fuzzy terms are scored with each owner's own
// figures, which the querier lacks) and st holds the document frequency
// of every term it scores.
func (p *Prepared) Rescorable(st *index.Stats) bool {
	if p.Sort == SortLatest || st == nil || st.Docs == 0 || st.TextTerms == 0 || expands(p.Expr) {
		return false
	}
	for _, t := range PositiveTerms(p.Expr) {
		if _, ok := st.DocFreq[t]; !ok {
			return false
		}
	}
	return true
}

// expands reports whether e holds a prefix, wildcard or fuzzy clause.
func expands(e Expr) bool {
	switch n := e.(type) {
	case *And:
		for _, c := range n.Children {
			if expands(c) {
				return true
			}
		}
	case *Or:
		for _, c := range n.Children {
			if expands(c) {
				return true
			}
		}
	case *Not:
		return expands(n.Child)
	case *Prefix, *Wildcard, *Fuzzy:
		return true
	}
	return false
}

// Rescore gives every hit the score an owner holding it gives it with st
// (index.ScoreAlone), so that an owner's scores are only hints: one that
// lies about them cannot reorder a page. keys and i name the key the hits
// were asked under, as in SearchRequest (nil keys for a whole-index
// search). It returns the hits with their scores and sort values set, and
// how many of them the owner had scored otherwise. A hit the query does
// not score at all is dropped (Matches lets none through). Call it only
// when Rescorable.
func (p *Prepared) Rescore(ctx context.Context, hits []Hit, keys []keyspace.Key, i int, st *index.Stats) (out []Hit, changed int, err error) {
	if len(hits) == 0 {
		return hits, 0, nil
	}
	posts := make([]*post.Post, 0, len(hits))
	seen := make(map[string]bool, len(hits))
	for _, h := range hits {
		if !seen[h.Post.ID] {
			seen[h.Post.ID] = true
			posts = append(posts, h.Post)
		}
	}
	q := *p
	q.After = nil
	req, err := q.SearchRequest(keys, i, len(posts))
	if err != nil {
		return nil, 0, err
	}
	req.Fields, req.IncludeLocations = nil, false
	res, err := index.ScoreAlone(ctx, posts, req, st)
	if err != nil {
		return nil, 0, fmt.Errorf("rescore hits: %w", err)
	}
	scores := make(map[string]float64, len(res.Hits))
	for _, h := range res.Hits {
		scores[h.ID] = h.Score
	}
	out = hits[:0]
	for _, h := range hits {
		s, ok := scores[h.Post.ID]
		if !ok {
			changed++
			continue
		}
		if !sameScore(s, h.Score) {
			// A score that agrees but for rounding keeps the owner's
			// exact figures: the next page's cursor continues from them
			// at the owner, and a hit one bit off would come back.
			changed++
			h.Score = s
			h.Sort = []string{strconv.FormatFloat(s, 'g', -1, 64), h.Post.ID}
		}
		out = append(out, h)
	}
	return out, changed, nil
}

// sameScore reports whether two scores of one hit agree but for rounding.
func sameScore(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}
