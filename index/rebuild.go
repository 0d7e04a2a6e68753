package index

import (
	"context"
	"fmt"
	"time"

	bleveQuery "github.com/blevesearch/bleve/v2/search/query"

	"github.com/blevesearch/bleve/v2/search"
	"github.com/murmur-p2p/murmur/post"
)

// rebuildProgressEvery is how often a rebuild logs how far it is.
const rebuildProgressEvery = 5 * time.Second

// rebuild indexes every stored post again, in place, with this build's
// analyzer and schema: an index built by an older version (from) keeps
// every post and every tombstone (bleve's internal values are left as they
// are). The version is recorded last, so a rebuild cut short starts again
// at the next open. It logs its progress, since it takes about as long as
// importing the posts.
func (ix *Index) rebuild(ctx context.Context, from string) error {
	total, err := ix.bi.DocCount()
	if err != nil {
		return fmt.Errorf("count documents: %w", err)
	}
	start := time.Now()
	ix.log.Info("rebuilding the index for this version's analyzer; the node starts once it is done",
		"from_version", from, "to_version", analyzerVersionS, "posts", total)
	now := ix.cfg.Now()
	b := ix.bi.NewBatch()
	done, skipped := 0, 0
	last := time.Now()
	flush := func() error {
		if b.Size() == 0 {
			return nil
		}
		if err := ix.bi.Batch(b); err != nil {
			return fmt.Errorf("write batch: %w", err)
		}
		b.Reset()
		return nil
	}
	err = ix.scan(ctx, bleveQuery.NewMatchAllQuery(), true, func(h *search.DocumentMatch) error {
		raw, ok := h.Fields[FieldPost].(string)
		if !ok {
			skipped++
			return nil
		}
		p, err := post.Decode([]byte(raw), now)
		if err != nil {
			ix.log.Warn("stored post does not verify; left as it was", "id", h.ID, "err", err)
			skipped++
			return nil
		}
		doc, err := DocumentOf(p, now)
		if err != nil {
			return err
		}
		if err := ix.addDocument(b, p.ID, doc); err != nil {
			return fmt.Errorf("index post %s: %w", p.ID, err)
		}
		done++
		if b.Size() >= ix.cfg.MaxBatch {
			if err := flush(); err != nil {
				return err
			}
		}
		if time.Since(last) >= rebuildProgressEvery {
			last = time.Now()
			ix.log.Info("rebuilding the index", "posts", done, "of", total, "elapsed", time.Since(start).Round(time.Second))
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	if err := ix.bi.SetInternal([]byte(keyAnalyzer), []byte(analyzerVersionS)); err != nil {
		return fmt.Errorf("record analyzer version: %w", err)
	}
	ix.log.Info("index rebuilt", "posts", done, "skipped", skipped, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
