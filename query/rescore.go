package query

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/blevesearch/bleve/v2"
	lru "github.com/hashicorp/golang-lru/v2"

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
	q := *p
	q.After = nil
	req, err := q.SearchRequest(keys, i, len(hits))
	if err != nil {
		return nil, 0, err
	}
	req.Fields, req.IncludeLocations = nil, false
	fp, err := scoreFingerprint(req, st)
	if err != nil {
		return nil, 0, err
	}
	// Scores remembered from earlier searches of the same query with the
	// same statistics; the others are computed in one temporary index.
	scores := make(map[string]float64, len(hits))
	var posts []*post.Post
	for _, h := range hits {
		if _, ok := scores[h.Post.ID]; ok {
			continue
		}
		if s, ok := scoreMemo.Get(memoKey(fp, h.Post.ID)); ok {
			scores[h.Post.ID] = s
			continue
		}
		scores[h.Post.ID] = math.NaN()
		posts = append(posts, h.Post)
	}
	if len(posts) > 0 {
		req.Size = len(posts)
		res, err := index.ScoreAlone(ctx, posts, req, st)
		if err != nil {
			return nil, 0, fmt.Errorf("rescore hits: %w", err)
		}
		for _, h := range res.Hits {
			scores[h.ID] = h.Score
		}
		for _, pp := range posts {
			scoreMemo.Add(memoKey(fp, pp.ID), scores[pp.ID])
		}
	}
	out = hits[:0]
	for _, h := range hits {
		s := scores[h.Post.ID]
		if math.IsNaN(s) { // the query does not score it
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

// ScoreMemoSize bounds the scores Rescore remembers: about 6 MB.
const ScoreMemoSize = 1 << 16

// scoreMemo remembers the scores Rescore computed, by the query and
// statistics they were computed with and the post's ID. An ID is the hash
// of its post's content and the hits are verified before they are
// rescored, so a remembered score is the score of that very post: no peer
// can place a score in it. NaN means the query does not score the post.
var scoreMemo, _ = lru.New[[sha256.Size]byte, float64](ScoreMemoSize)

// scoreFingerprint hashes what a score depends on besides the post: the
// bleve query (its JSON) and the statistics.
func scoreFingerprint(req *bleve.SearchRequest, st *index.Stats) ([sha256.Size]byte, error) {
	h := sha256.New()
	enc := json.NewEncoder(h)
	if err := enc.Encode(req.Query); err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("rescore: encode query: %w", err)
	}
	if err := enc.Encode(st); err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("rescore: encode statistics: %w", err)
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out, nil
}

func memoKey(fp [sha256.Size]byte, id string) [sha256.Size]byte {
	return sha256.Sum256(append(fp[:], id...))
}

// ForgetScores empties the memory of computed scores, for benchmarks that
// measure the first search of a query.
func ForgetScores() { scoreMemo.Purge() }

// sameScore reports whether two scores of one hit agree but for rounding.
func sameScore(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}
