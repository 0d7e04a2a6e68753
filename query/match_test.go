package query_test

import (
	"context"
	"testing"

	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
)

// TestMatchesAgreesWithIndex checks the querier's own evaluation of a query
// on a post (used to verify hits from peers) against bleve on an index of
// the same posts, for every kind of clause.
func TestMatchesAgreesWithIndex(t *testing.T) {
	posts := shardPosts(t, 400)
	ix := openWith(t, posts)
	author := posts[0].Author
	for _, q := range []string{
		"river", "the river", `"the river"`, `"of the"`, "river -the", "river OR quartz", "(river OR quartz) -of",
		"riv*", "r?ver", "rivr~1", "lantren~2", "lang:en river", "lang:de", "since:2024-01-01 until:2024-01-01T03:00:00Z the",
		"from:" + author + " ember", "ember OR lang:de", "ember -river -(the of)",
	} {
		p, err := query.Prepare(query.Request{Q: q, Limit: 1000})
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		got := map[string]bool{}
		for _, pp := range posts {
			if query.Matches(p.Expr, pp) {
				got[pp.ID] = true
			}
		}
		res, err := query.Run(context.Background(), ix, query.Request{Q: q, Limit: 1000})
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		want := map[string]bool{}
		for _, h := range res.Hits {
			want[h.Post.ID] = true
		}
		if len(got) != len(want) {
			t.Errorf("%q: Matches finds %d posts, the index %d", q, len(got), len(want))
			continue
		}
		for id := range want {
			if !got[id] {
				t.Errorf("%q: the index finds %s, Matches does not", q, id)
				break
			}
		}
	}
}

// TestAnalyzeRemembersOnlyTheSameText: a post analyzed before is matched
// from memory, but a post that claims a remembered ID with another text
// (a lying owner's, before its ID is checked, or a test's) is analyzed
// anew: its own terms match, the remembered ones do not.
func TestAnalyzeRemembersOnlyTheSameText(t *testing.T) {
	heron := &post.Post{ID: "analyze-memory-1", Text: "the grey heron wades through the reeds"}
	phrase, err := query.Parse(`"heron wades"`)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // analyzed, then remembered
		a := query.Analyze(heron)
		if !a.HasTerm("heron") || !a.Matches(phrase) {
			t.Fatalf("%q: heron %v, phrase %v; want both", heron.Text, a.HasTerm("heron"), a.Matches(phrase))
		}
	}
	liar := &post.Post{ID: heron.ID, Text: "a kestrel hovers over the field"}
	a := query.Analyze(liar)
	if a.HasTerm("heron") || a.Matches(phrase) || !a.HasTerm("kestrel") {
		t.Fatalf("a post with a remembered ID and another text: heron %v, phrase %v, kestrel %v; want its own terms alone", a.HasTerm("heron"), a.Matches(phrase), a.HasTerm("kestrel"))
	}
	if a := query.Analyze(heron); !a.Matches(phrase) {
		t.Fatal("the first post no longer matches after another text claimed its ID")
	}
}
