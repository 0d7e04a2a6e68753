package index

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/mapping"
	bleveIndex "github.com/blevesearch/bleve_index_api"
)

// documentBuilder makes the bleve document of a Document with exactly the
// fields that NewMapping's walk of it makes, without the walk's
// reflection (8% of an ingest's CPU).
// TestBuiltDocumentIsTheMappedOne holds the two equal.
type documentBuilder struct {
	text, keyword analysis.Analyzer
}

// newDocumentBuilder returns the builder for an index with mapping m, or
// nil when m is not NewMapping's (an index an older build created keeps
// the mapping it was created with): its documents are then made by m's
// own walk.
func newDocumentBuilder(m mapping.IndexMapping) *documentBuilder {
	got, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	want, err := json.Marshal(NewMapping())
	if err != nil || !bytes.Equal(got, want) {
		return nil
	}
	text, kw := m.AnalyzerNamed(AnalyzerName), m.AnalyzerNamed(keyword.Name)
	if text == nil || kw == nil {
		return nil
	}
	return &documentBuilder{text: text, keyword: kw}
}

// build returns the bleve document of d under id, its fields in the
// order, with the names, options and analyzers NewMapping gives them.
func (b documentBuilder) build(id string, d *Document) (*document.Document, error) {
	const indexed = bleveIndex.IndexField
	created, err := time.Parse(time.RFC3339Nano, d.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("post %s: created_at %q: %w", id, d.CreatedAt, err)
	}
	doc := document.NewDocument(id)
	doc.AddField(document.NewTextFieldCustom(FieldText, []uint64{}, []byte(d.Text), indexed|bleveIndex.IncludeTermVectors, b.text))
	doc.AddField(document.NewTextFieldCustom(FieldAuthor, []uint64{}, []byte(d.Author), indexed, b.keyword))
	doc.AddField(document.NewTextFieldCustom(FieldLabel, []uint64{}, []byte(d.Label), indexed, b.keyword))
	doc.AddField(document.NewTextFieldCustom(FieldLang, []uint64{}, []byte(d.Lang), indexed|bleveIndex.DocValues, b.keyword))
	date, err := document.NewDateTimeFieldWithIndexingOptions(FieldCreatedAt, []uint64{}, created, time.RFC3339Nano, indexed|bleveIndex.DocValues)
	if err != nil {
		return nil, fmt.Errorf("post %s: created_at %q: %w", id, d.CreatedAt, err)
	}
	doc.AddField(date)
	doc.AddField(document.NewTextFieldCustom(FieldReplyTo, []uint64{}, []byte(d.ReplyTo), indexed, b.keyword))
	doc.AddField(document.NewTextFieldCustom(FieldShard, []uint64{}, []byte(d.Shard), indexed, b.keyword))
	doc.AddField(document.NewTextFieldCustom(FieldPost, []uint64{}, []byte(d.Post), bleveIndex.StoreField, b.text))
	doc.AddField(document.NewCompositeFieldWithIndexingOptions("_all", true, []string{},
		[]string{"_id", FieldText, FieldAuthor, FieldLabel, FieldLang, FieldCreatedAt, FieldReplyTo, FieldShard, FieldPost},
		bleveIndex.IndexField|bleveIndex.IncludeTermVectors))
	doc.SetIndexed()
	return doc, nil
}

// addDocument adds d under id to batch: through the builder when the
// index's mapping is NewMapping's, else through the mapping's walk.
func (ix *Index) addDocument(batch *bleve.Batch, id string, d *Document) error {
	if ix.docs == nil {
		return batch.Index(id, d)
	}
	doc, err := ix.docs.build(id, d)
	if err != nil {
		return err
	}
	return batch.IndexAdvanced(doc)
}
