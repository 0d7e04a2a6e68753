package index

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/post"
)

// TestBuiltDocumentIsTheMappedOne: for posts with and without each
// optional field, and received before or after their date, the document
// the builder makes is the one bleve's walk of NewMapping makes, field
// for field (names, options, analyzers, values, array positions, the
// composite _all's exclusions) before and after analysis.
func TestBuiltDocumentIsTheMappedOne(t *testing.T) {
	m := NewMapping()
	b := newDocumentBuilder(m)
	if b == nil {
		t.Fatal("no builder for NewMapping itself")
	}
	key := testkit.Key(t)
	now := time.Now()
	drafts := []post.Draft{
		{Text: "plain words, nothing else", CreatedAt: now.Add(-time.Hour)},
		{Text: "#Tag and @bob see https://www.example.org/x.", Lang: "en", Label: "Feed Name", CreatedAt: now.Add(-48 * time.Hour)},
		{Text: "dated a little ahead", Lang: "de", CreatedAt: now.Add(time.Minute)},
		{Text: "Привет, мир 日本語", Lang: "ru", CreatedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
	}
	parent, err := post.Sign(key, drafts[0], now)
	if err != nil {
		t.Fatal(err)
	}
	drafts = append(drafts, post.Draft{Text: "an answer", ReplyTo: parent.ID, CreatedAt: now.Add(-time.Second)})
	for _, dr := range drafts {
		p, err := post.Sign(key, dr, now)
		if err != nil {
			t.Fatal(err)
		}
		d, err := DocumentOf(p, now)
		if err != nil {
			t.Fatal(err)
		}
		mapped := document.NewDocument(p.ID)
		if err := m.MapDocument(mapped, d); err != nil {
			t.Fatal(err)
		}
		built, err := b.build(p.ID, d)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(built, mapped) {
			for i := range min(len(built.Fields), len(mapped.Fields)) {
				if !reflect.DeepEqual(built.Fields[i], mapped.Fields[i]) {
					t.Errorf("field %d: built %#v, the mapping's %#v", i, built.Fields[i], mapped.Fields[i])
				}
			}
			if !reflect.DeepEqual(built.CompositeFields, mapped.CompositeFields) {
				t.Errorf("composite: built %#v, the mapping's %#v", built.CompositeFields[0], mapped.CompositeFields[0])
			}
			bc, mc := *built, *mapped
			bc.Fields, mc.Fields, bc.CompositeFields, mc.CompositeFields = nil, nil, nil, nil
			t.Errorf("document: built %#v, the mapping's %#v", bc, mc)
			t.Fatalf("%q: built document\n%#v\nthe mapping's\n%#v", dr.Text, fieldsOf(built), fieldsOf(mapped))
		}
		for _, doc := range []*document.Document{built, mapped} {
			for _, f := range doc.Fields {
				if f.Options().IsIndexed() {
					f.Analyze()
				}
			}
		}
		if !reflect.DeepEqual(built, mapped) {
			t.Fatalf("%q: the documents differ once analyzed", dr.Text)
		}
	}
}

func fieldsOf(doc *document.Document) []string {
	var out []string
	for _, f := range doc.Fields {
		out = append(out, f.Name()+" "+f.Options().String()+" "+string(f.Value()))
	}
	for _, f := range doc.CompositeFields {
		out = append(out, f.Name()+" "+f.Options().String())
	}
	return out
}

// TestIndexUsesTheBuilderOnlyOnItsOwnMapping: an index Open creates, and
// the same index opened again (its mapping read back from disk), build
// documents directly and find what they stored; an index whose mapping is
// another (as an older build's could be) goes through bleve's walk.
func TestIndexUsesTheBuilderOnlyOnItsOwnMapping(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "index")
	key := testkit.Key(t)
	for round := range 2 {
		ix, err := Open(Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if ix.docs == nil {
			t.Fatalf("open %d: no builder on an index with this build's mapping", round)
		}
		p, err := post.Sign(key, post.Draft{Text: "round trip of the mapping", Lang: "en"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ix.Put(ctx, p); err != nil {
			t.Fatal(err)
		}
		res, err := ix.Search(ctx, bleve.NewSearchRequest(matchText("mapping")))
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != uint64(round+1) {
			t.Fatalf("open %d: %d posts found, want %d", round, res.Total, round+1)
		}
		if err := ix.Close(); err != nil {
			t.Fatal(err)
		}
	}
	other := NewMapping().(*mapping.IndexMappingImpl)
	other.DefaultMapping.AddFieldMappingsAt("extra", bleve.NewKeywordFieldMapping())
	if newDocumentBuilder(other) != nil {
		t.Fatal("a builder for a mapping with another field")
	}
}

func matchText(term string) *query.MatchQuery {
	q := bleve.NewMatchQuery(term)
	q.SetField(FieldText)
	return q
}
