package index

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/search"
	bindex "github.com/blevesearch/bleve_index_api"

	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/post"
)

// TestStoredPostsLoadByNumber: in an index of several segments with
// deleted documents among them, every hit's stored post is read by its
// internal number, and is the post bleve's own loading by ID gives.
func TestStoredPostsLoadByNumber(t *testing.T) {
	ctx := context.Background()
	ix, err := Open(Config{Dir: filepath.Join(t.TempDir(), "index")})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	key := testkit.Key(t)
	now := time.Now()
	// Batches go to segments of their own until scorch merges them;
	// dropping a third of each batch leaves deleted documents in them.
	// Numbering is only tested where a segment before the last holds
	// deleted documents: wait for a snapshot that has one.
	stored, dropped := 0, 0
	var r bindex.IndexReader
	for batch := 0; r == nil; batch++ {
		if batch == 50 {
			t.Fatal("no snapshot with deleted documents before its last segment in 50 batches")
		}
		var ps []*post.Post
		var drop []string
		for i := range 40 {
			p, err := post.Sign(key, post.Draft{Text: fmt.Sprintf("the heron %d of batch %d", i, batch), CreatedAt: now.Add(-time.Duration(batch*40+i) * time.Second)}, now)
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
			if i%3 == 0 {
				drop = append(drop, p.ID)
			}
		}
		if _, err := ix.Put(ctx, ps...); err != nil {
			t.Fatal(err)
		}
		n, err := ix.Drop(ctx, drop...)
		if err != nil {
			t.Fatal(err)
		}
		stored, dropped = stored+len(ps), dropped+n
		snap, err := ix.reader()
		if err != nil {
			t.Fatal(err)
		}
		segs := snap.(*scorch.IndexSnapshot).Segments()
		for _, s := range segs[:max(len(segs)-1, 0)] {
			if s.Count() < s.Segment().Count() {
				r = snap
				break
			}
		}
		if r == nil {
			snap.Close()
		}
	}
	defer r.Close()
	q := bleve.NewTermQuery("heron")
	q.SetField(FieldText)
	req := bleve.NewSearchRequestOptions(q, 1000, 0, false)
	req.Fields = []string{FieldPost}
	res, err := searchWithStats(ctx, r, ix.bi.Mapping(), req, &Stats{Docs: 1000, TextTerms: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if want := stored - dropped; len(res.Hits) != want {
		t.Fatalf("%d hits, want %d", len(res.Hits), want)
	}
	fresh := make([]*search.DocumentMatch, len(res.Hits))
	for i, h := range res.Hits {
		fresh[i] = &search.DocumentMatch{ID: h.ID, IndexInternalID: h.IndexInternalID}
	}
	byNumber, err := loadStored(r, req, fresh)
	if err != nil {
		t.Fatal(err)
	}
	if byNumber != len(fresh) {
		t.Errorf("%d of %d hits read by number, the rest by ID", byNumber, len(fresh))
	}
	for i, h := range res.Hits {
		byID := &search.DocumentMatch{ID: h.ID, IndexInternalID: h.IndexInternalID}
		if err := loadStoredByID(r, req, []*search.DocumentMatch{byID}); err != nil {
			t.Fatal(err)
		}
		got, want := fresh[i].Fields[FieldPost], byID.Fields[FieldPost]
		if got == nil || got != want || h.Fields[FieldPost] != want {
			t.Fatalf("hit %s: stored post by number %.60v, by ID %.60v", h.ID, got, want)
		}
	}
}
