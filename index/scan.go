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

// Walk calls fn with every stored post, in ID order, decoded and verified.
// It stops at the first error fn returns. Posts stored while it runs may or
// may not be seen.
func (ix *Index) Walk(ctx context.Context, fn func(*post.Post) error) error {
	now := time.Now()
	return ix.scan(ctx, bleveQuery.NewMatchAllQuery(), true, func(h *search.DocumentMatch) error {
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
