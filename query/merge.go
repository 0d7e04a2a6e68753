package query

import (
	"sort"
	"time"

	"github.com/murmur-p2p/murmur/index"
)

// Less reports whether hit a comes before hit b in order s: higher score
// (or newer post) first, then lower ID, as the index sorts.
func Less(s Sort, a, b *Hit) bool {
	if s == SortLatest {
		ta, tb := sortTime(a), sortTime(b)
		if !ta.Equal(tb) {
			return ta.After(tb)
		}
	} else if a.Score != b.Score {
		return a.Score > b.Score
	}
	return a.Post.ID < b.Post.ID
}

func sortTime(h *Hit) time.Time {
	if len(h.Sort) > 0 {
		if t, err := time.Parse(time.RFC3339Nano, h.Sort[0]); err == nil {
			return t
		}
	}
	return h.Post.CreatedAt
}

// ShardAnswer is one shard's answer to a page: hits in sort order, verified
// and under the shard's key, the shard's count of matches, and whether it
// may hold more hits after the last one it returned.
type ShardAnswer struct {
	Hits  []Hit
	Total uint64
	More  bool
	// Last is the last hit the shard returned, before any was dropped: the
	// shard has nothing unseen before it.
	Last *Hit
}

// Merge cuts one page from the shards' answers, which cover disjoint
// keys: it merges their hits in order, drops repeated IDs and sets the
// cursor, which carries st so that the next page is scored the same way.
// complete is false when a shard that may hold more stopped before the
// page's cut, so that some of its hits could belong to the page: the
// caller asks that shard again from its Last hit.
func (p *Prepared) Merge(answers []*ShardAnswer, st *index.Stats) (res *Result, complete []bool) {
	var all []Hit
	res = &Result{Ranking: p.Ranking}
	for _, a := range answers {
		if a == nil {
			continue
		}
		res.Total += a.Total
		all = append(all, a.Hits...)
	}
	sort.SliceStable(all, func(i, j int) bool { return Less(p.Sort, &all[i], &all[j]) })
	seen := make(map[string]bool, len(all))
	page := all[:0]
	for _, h := range all {
		if !seen[h.Post.ID] {
			seen[h.Post.ID] = true
			page = append(page, h)
		}
	}
	more := len(page) > p.Limit
	if more {
		page = page[:p.Limit]
	}
	// A shard that may hold more and whose last hit comes before the cut
	// (or that returned nothing usable while others filled the page) must
	// be asked again before this page can be trusted.
	complete = make([]bool, len(answers))
	for i, a := range answers {
		complete[i] = true
		if a == nil || !a.More || a.Last == nil {
			continue
		}
		if len(page) < p.Limit || Less(p.Sort, a.Last, &page[len(page)-1]) {
			complete[i] = false
		}
	}
	res.Hits = page
	if more || anyMore(answers) && len(page) == p.Limit {
		last := page[len(page)-1]
		res.NextCursor = encodeCursor(p.hash, last.Sort, st, PositiveTerms(p.Expr), p.Ranking)
	}
	return res, complete
}

func anyMore(answers []*ShardAnswer) bool {
	for _, a := range answers {
		if a != nil && a.More {
			return true
		}
	}
	return false
}
