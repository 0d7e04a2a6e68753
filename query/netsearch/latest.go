package netsearch

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
)

// A split term's buckets hold one month of its posts each, so a bucket
// holds nothing newer than its month's end. A query sorted by date
// (sort=latest) that asked every bucket for a page, as one sorted by
// score must, would carry hits of months the page never reaches. Instead
// the plan's buckets are asked newest first (docs/split-keys.md):
//   - the newest months whose postings, by the split's record, fill a
//     page are asked for hits;
//   - the older ones for their counts alone (a request of size 0), so that
//     the total stays the network's, with their month's end as the place
//     before which they hold nothing (their answer's last hit);
//   - the merge finds a page full of hits newer than an older bucket's end
//     complete without it, and otherwise a refill asks the buckets the page
//     reaches, newest first, as many as their counts need to fill it.

// deferBuckets reports which units are asked for their counts alone at
// first: for a query sorted by date, the buckets of a split term older
// than the newest months whose postings fill a page, and those that hold
// nothing after the cursor. nil when there is none.
func (r *run) deferBuckets() []bool {
	if r.p.Sort != query.SortLatest || r.whole || r.c.cfg.EveryBucketAtOnce {
		return nil
	}
	cursor := r.cursorTime()
	postings := map[string]int{} // month -> postings its buckets' records count
	roots := map[string]bool{}
	var months []string
	for _, un := range r.units {
		k := r.parsed[un.lo]
		if k.Month == "" {
			continue
		}
		roots[keyspace.RootNode(k.Class, k.Value).String()] = true
		if start, _, err := keyspace.MonthSpan(k.Month); err != nil || !cursor.IsZero() && !start.Before(cursor) {
			continue // nothing after the cursor: counted alone
		}
		if _, ok := postings[k.Month]; !ok {
			postings[k.Month] = 0
			months = append(months, k.Month)
		}
	}
	if len(roots) == 0 {
		return nil
	}
	for root := range roots {
		sp, _ := r.c.splitOf(root)
		for _, b := range sp.Buckets {
			if _, ok := postings[b.Month]; ok {
				postings[b.Month] += b.Count
			}
		}
	}
	slices.Sort(months)
	eager := map[string]bool{}
	for i, sum := len(months)-1, 0; i >= 0 && sum < r.p.Limit+1; i-- {
		eager[months[i]] = true
		sum += postings[months[i]]
	}
	deferred := make([]bool, len(r.units))
	for i, un := range r.units {
		k := r.parsed[un.lo]
		deferred[i] = k.Month != "" && !eager[k.Month]
	}
	return deferred
}

// cursorTime is the creation time of the previous page's last hit; zero
// on a first page.
func (r *run) cursorTime() time.Time {
	if len(r.p.After) == 0 {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, r.p.After[0])
	if err != nil {
		return time.Time{} // query.CheckAfter refused it
	}
	return t
}

// askCounts asks the owners of bucket unit i for its counts alone, and
// sets its answer's last hit to the place in the order before which it
// holds nothing: its month's end, or the cursor inside its month. An
// owner that does not answer a request for counts (of the version before
// them) is asked for hits.
func (r *run) askCounts(ctx context.Context, i int) {
	req := r.request(i, r.p.After)
	req.Size = 0
	resps, from, err := r.askOwners(ctx, i, &req)
	if err != nil {
		r.deferred[i] = false
		r.ask(ctx, i, r.p.After)
		return
	}
	r.keep(i, &req, resps, from, nil)
	bound := r.bucketBound(i)
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.answers[i]
	a.More = a.Total > 0 && bound != nil
	r.fullLasts[i] = nil
	if a.More {
		r.fullLasts[i] = []*query.Hit{bound}
	}
}

// bucketBound is the place in the date order before which bucket unit i
// holds nothing after the cursor: its month's end (no ID comes before the
// empty one), or the cursor itself when it falls inside the month; nil
// when the whole month comes before the cursor.
func (r *run) bucketBound(i int) *query.Hit {
	start, end, err := keyspace.MonthSpan(r.parsed[r.units[i].lo].Month)
	if err != nil {
		return nil
	}
	cursor := r.cursorTime()
	switch {
	case cursor.IsZero() || !cursor.Before(end):
		return &query.Hit{Sort: []string{end.Format(time.RFC3339Nano), ""}, Post: &post.Post{CreatedAt: end}}
	case cursor.After(start):
		return &query.Hit{Sort: slices.Clone(r.p.After), Post: &post.Post{ID: r.p.After[1], CreatedAt: cursor}}
	}
	return nil
}

// pickDeferred chooses, of the deferred units in again (which the page
// reaches), those a refill asks for hits: the newest first, whole months,
// until their counts make up the have hits of the page so far to a page
// and one. The others wait for the merge after it, which finds them
// complete once the page holds hits newer than their ends. It returns
// again's other units and the ones chosen, which it marks asked (fresh[j]
// for out[j]).
func (r *run) pickDeferred(again []int, have int) (out []int, fresh []bool) {
	if r.deferred == nil {
		return again, make([]bool, len(again))
	}
	var waiting []int
	for _, i := range again {
		if r.deferred[i] {
			waiting = append(waiting, i)
		} else {
			out = append(out, i)
		}
	}
	fresh = make([]bool, len(out))
	slices.SortStableFunc(waiting, func(a, b int) int {
		return strings.Compare(r.parsed[r.units[b].lo].Month, r.parsed[r.units[a].lo].Month)
	})
	need := uint64(max(1, r.p.Limit+1-have))
	var sum uint64
	for j, i := range waiting {
		if sum >= need && r.parsed[r.units[i].lo].Month != r.parsed[r.units[waiting[j-1]].lo].Month {
			break
		}
		sum += r.answers[i].Total
		r.deferred[i] = false
		out, fresh = append(out, i), append(fresh, true)
	}
	return out, fresh
}
