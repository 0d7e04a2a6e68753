package index

import (
	"context"
	"fmt"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	bleveQuery "github.com/blevesearch/bleve/v2/search/query"

	"github.com/murmur-p2p/murmur/post"
)

// scanPage is how many documents one page of a scan reads.
const scanPage = 5000

// IDsWithTerm returns, sorted, the IDs of the posts whose field holds term
// exactly: the posting list of that term. The network layer compares such
// lists between the owners of a key.
func (ix *Index) IDsWithTerm(ctx context.Context, field, term string) ([]string, error) {
	q := bleveQuery.NewTermQuery(term)
	q.SetField(field)
	var ids []string
	err := ix.scan(ctx, q, false, func(h *search.DocumentMatch) error {
		ids = append(ids, h.ID)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list posts with %s:%s: %w", field, term, err)
	}
	return ids, nil
}

// HasTerm reports whether any stored post's field holds term exactly.
func (ix *Index) HasTerm(ctx context.Context, field, term string) (bool, error) {
	q := bleveQuery.NewTermQuery(term)
	q.SetField(field)
	req := bleve.NewSearchRequestOptions(q, 0, 0, false)
	req.Score = "none"
	res, err := ix.Search(ctx, req)
	if err != nil {
		return false, fmt.Errorf("look for %s:%s: %w", field, term, err)
	}
	return res.Total > 0, nil
}

// IDsWithTermBetween is IDsWithTerm for the posts created in [start, end),
// by the time the index sorts them by (DocumentOf): a month of a split
// term's posting list.
func (ix *Index) IDsWithTermBetween(ctx context.Context, field, term string, start, end time.Time) ([]string, error) {
	tq := bleveQuery.NewTermQuery(term)
	tq.SetField(field)
	incl, excl := true, false
	dq := bleveQuery.NewDateRangeInclusiveQuery(start, end, &incl, &excl)
	dq.SetField(FieldCreatedAt)
	var ids []string
	err := ix.scan(ctx, bleveQuery.NewConjunctionQuery([]bleveQuery.Query{tq, dq}), false, func(h *search.DocumentMatch) error {
		ids = append(ids, h.ID)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list posts with %s:%s from %s to %s: %w", field, term, start.Format(time.RFC3339), end.Format(time.RFC3339), err)
	}
	return ids, nil
}

// PostsWithTerm calls fn with every stored post whose field holds term,
// decoded and verified, in ID order. It stops at the first error fn
// returns.
func (ix *Index) PostsWithTerm(ctx context.Context, field, term string, fn func(*post.Post) error) error {
	q := bleveQuery.NewTermQuery(term)
	q.SetField(field)
	return ix.walk(ctx, q, fn)
}

// Paused runs fn while no write commits: the index calls neither OnStored
// nor OnDeleted meanwhile, so what fn reads of it is what the callbacks
// reported. Reads go on; writes wait for fn.
func (ix *Index) Paused(fn func() error) error {
	ix.writeMu.Lock()
	defer ix.writeMu.Unlock()
	return fn()
}

// Walk calls fn with every stored post, in ID order, decoded and verified.
// It stops at the first error fn returns. Posts stored while it runs may or
// may not be seen.
func (ix *Index) Walk(ctx context.Context, fn func(*post.Post) error) error {
	return ix.walk(ctx, bleveQuery.NewMatchAllQuery(), fn)
}

// walk calls fn with every stored post that matches q, as Walk does.
func (ix *Index) walk(ctx context.Context, q bleveQuery.Query, fn func(*post.Post) error) error {
	now := time.Now()
	return ix.scan(ctx, q, true, func(h *search.DocumentMatch) error {
		raw, ok := h.Fields[FieldPost].(string)
		if !ok {
			return nil // a document without its record is not a post
		}
		p, err := post.Decode([]byte(raw), now)
		if err != nil {
			ix.log.Warn("stored post does not verify; skipped", "id", h.ID, "err", err)
			return nil
		}
		return fn(p)
	})
}

// scan pages through every match of q in ID order with search-after, so
// memory stays bounded by one page whatever the index holds.
func (ix *Index) scan(ctx context.Context, q bleveQuery.Query, withPost bool, fn func(*search.DocumentMatch) error) error {
	// bleve allocates room for a whole page before it collects a hit,
	// and most posting lists are short: count the matches first (no
	// room), and ask for no more than that.
	count := bleve.NewSearchRequestOptions(q, 0, 0, false)
	count.Score = "none"
	res, err := ix.Search(ctx, count)
	if err != nil {
		return err
	}
	if res.Total == 0 {
		return nil
	}
	page := int(min(res.Total, scanPage))
	var after []string
	for {
		req := bleve.NewSearchRequestOptions(q, page, 0, false)
		req.SortBy([]string{"_id"})
		if withPost {
			req.Fields = []string{FieldPost}
		}
		if after != nil {
			req.SetSearchAfter(after)
		}
		res, err := ix.Search(ctx, req)
		if err != nil {
			return err
		}
		for _, h := range res.Hits {
			if err := fn(h); err != nil {
				return err
			}
		}
		if len(res.Hits) < page {
			return nil
		}
		after = []string{res.Hits[len(res.Hits)-1].ID}
	}
}
