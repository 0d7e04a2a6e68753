package index

import (
	"fmt"
	"sort"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/search"
	bindex "github.com/blevesearch/bleve_index_api"
)

// loadStored fills each hit's stored fields as req asks. The common case,
// the stored post alone from a scorch snapshot, reads it by the hit's
// internal document number: bleve's own loading
// (bleve.LoadAndHighlightAllFields) looks the document up again by its
// external ID, a term dictionary lookup that cost two thirds of loading a
// hit. A hit whose number does not name its ID there (the snapshot's
// numbering is scorch's, reconstructed here) is loaded bleve's way.
// It returns how many hits it read by number.
func loadStored(r bindex.IndexReader, req *bleve.SearchRequest, hits []*search.DocumentMatch) (byNumber int, err error) {
	if len(req.Fields) == 0 {
		return 0, nil
	}
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok || len(req.Fields) != 1 || req.Fields[0] != FieldPost {
		return 0, loadStoredByID(r, req, hits)
	}
	segs := snap.Segments()
	// A document's number is its segment's offset, the count of every
	// document (deleted ones too) in the segments before it, plus its
	// number within the segment.
	offsets := make([]uint64, len(segs))
	var running uint64
	for i, s := range segs {
		offsets[i] = running
		running += s.Segment().Count()
	}
	for _, h := range hits {
		num := h.IndexInternalID.Value()
		i := sort.Search(len(offsets), func(x int) bool { return offsets[x] > num }) - 1
		var stored string
		found, sameID := false, false
		if i >= 0 {
			err := segs[i].VisitDocument(num-offsets[i], func(field string, _ byte, val []byte, _ []uint64) bool {
				switch field {
				case "_id":
					sameID = string(val) == h.ID // compared, not copied
				case FieldPost:
					stored, found = string(val), true
					return false
				}
				return true
			})
			if err != nil {
				return byNumber, fmt.Errorf("load hit %s: %w", h.ID, err)
			}
		}
		if !found || !sameID {
			if err := loadStoredByID(r, req, []*search.DocumentMatch{h}); err != nil {
				return byNumber, err
			}
			continue
		}
		h.Fields = map[string]any{FieldPost: stored}
		byNumber++
	}
	return byNumber, nil
}

// loadStoredByID is bleve's own loading of the fields req asks for.
func loadStoredByID(r bindex.IndexReader, req *bleve.SearchRequest, hits []*search.DocumentMatch) error {
	for _, h := range hits {
		if err, _ := bleve.LoadAndHighlightAllFields(h, req, "", r, nil); err != nil {
			return fmt.Errorf("load hit %s: %w", h.ID, err)
		}
	}
	return nil
}
