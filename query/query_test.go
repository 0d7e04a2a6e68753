package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/post"
)

// parseCases are valid queries and the String form of their tree. They also
// seed FuzzParse.
var parseCases = []struct{ q, want string }{
	{"go rust", "(AND text:go text:rust)"},
	{"Go OR Rust", "(OR text:go text:rust)"},
	{"a b OR c", "(OR (AND text:a text:b) text:c)"},
	{"a OR b c", "(OR text:a (AND text:b text:c))"},
	{"go AND rust", "(AND text:go text:rust)"},
	{"(a OR b) c", "(AND (OR text:a text:b) text:c)"},
	{"a (b c)", "(AND text:a text:b text:c)"},
	{"a or b", "(AND text:a text:or text:b)"},
	{"-spam go", "(AND -text:spam text:go)"},
	{"go -(a OR b)", "(AND text:go -(OR text:a text:b))"},
	{`go -"hello world"`, `(AND text:go -text:"hello world")`},
	{`"Hello World"`, `text:"hello world"`},
	{`"#go rocks"`, `text:"#go|go rocks"`},
	{`"hello"`, "text:hello"},
	{"#Go", "text:#go"},
	{"#Go,", "text:#go"},
	{"#go,rust", `text:"#go|go rust"`},
	{"@bob.", "text:@bob"},
	{"@alice", "text:@alice"},
	{"@Alice@Example.org", "text:@alice@example.org"},
	{"from:12D3KooWabc", "author:12D3KooWabc"},
	{"from:QmFoo", "author:QmFoo"},
	{"from:BobBot", "label:bobbot"},
	{`from:"Tide Watcher" tides`, `(AND label:"tide watcher" text:tides)`},
	{`lang:"en"`, "lang:en"},
	{"lang:EN go", "(AND lang:en text:go)"},
	{"go since:2024-01-01", "(AND text:go created_at:[2024-01-01T00:00:00Z,*))"},
	{"go until:2024-02-01T10:00:00+02:00", "(AND text:go created_at:[*,2024-02-01T08:00:00Z))"},
	{"https://www.Example.com/x?y=1", "text:example.com"},
	{"wor*", "text:wor*"},
	{"Goph*", "text:goph*"},
	{"w*d", "text:w*d"},
	{"wo?d", "text:wo?d"},
	{"word~", "text:word~1"},
	{"word~2", "text:word~2"},
	{"what?", "text:what"},
	{"e-mail", `text:"e mail"`},
	{"go , ;", "text:go"},
	{"日本語", `text:"日 本 語"`},
	{"a OR b OR c", "(OR text:a text:b text:c)"},
}

// parseErrors are invalid queries, where the error is and what it says.
var parseErrors = []struct {
	q    string
	pos  int
	want string
}{
	{"", 0, "empty query"},
	{"   ", 0, "empty query"},
	{`go "hello world`, 3, "unterminated quote"},
	{"foo:bar", 0, `"foo"`},
	{"go Foo:bar", 3, "known fields are from:, lang:, since:, until:"},
	{"since:2024-13-01", 0, "YYYY-MM-DD"},
	{"go until:yesterday", 3, "until"},
	{"(a", 0, "missing ')'"},
	{"a)", 1, "unbalanced ')'"},
	{"-a", 0, "at least one positive term"},
	{"-a -b", 0, "at least one positive term"},
	{"a OR -b", 5, "positive term"},
	{", ;", 0, "no searchable terms"},
	{"a OR", 2, "OR needs a term"},
	{"OR a", 0, "OR needs a term"},
	{"AND a", 0, "AND needs a term"},
	{"()", 0, "empty group"},
	{"w*", 0, "prefix needs at least 2"},
	{"word~3", 4, "fuzziness 3"},
	{"lang:", 0, "needs a value"},
	{`from:""`, 0, "needs a value"},
	{`go from:"bob`, 8, "unterminated quote"},
	{`foo:"bar baz"`, 0, `"foo"`},
	{strings.Repeat("a", MaxQueryBytes+1), MaxQueryBytes, "longer than 1024"},
	{strings.Repeat("(", MaxDepth+1) + "a" + strings.Repeat(")", MaxDepth+1), MaxDepth, "deeper than 16"},
	{strings.TrimSpace(strings.Repeat("ab ", MaxClauses+1)), 3 * MaxClauses, "more than 64 clauses"},
	{"a \xff", 2, "UTF-8"},
}

func TestParse(t *testing.T) {
	for _, c := range parseCases {
		n, err := Parse(c.q)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.q, err)
			continue
		}
		if got := n.String(); got != c.want {
			t.Errorf("Parse(%q) = %s, want %s", c.q, got, c.want)
		}
		if _, err := Compile(n); err != nil {
			t.Errorf("Compile(Parse(%q)): %v", c.q, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range parseErrors {
		n, err := Parse(c.q)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%.40q) = %v, %v; want a SyntaxError", c.q, n, err)
			continue
		}
		if se.Pos != c.pos || !strings.Contains(se.Msg, c.want) {
			t.Errorf("Parse(%.40q) error %q, want at %d containing %q", c.q, err, c.pos, c.want)
		}
		if want := fmt.Sprintf("at %d: %s", se.Pos, se.Msg); err.Error() != want {
			t.Errorf("Error() = %q, want %q", err.Error(), want)
		}
	}
}

func TestParseDepthLimitExact(t *testing.T) {
	q := strings.Repeat("(", MaxDepth) + "a" + strings.Repeat(")", MaxDepth)
	if _, err := Parse(q); err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
	q = strings.TrimSpace(strings.Repeat("ab ", MaxClauses))
	if _, err := Parse(q); err != nil {
		t.Fatalf("%d clauses: %v", MaxClauses, err)
	}
}

func TestPositiveTerms(t *testing.T) {
	n, err := Parse(`#Go "hello world" -spam (rust OR zig~1) from:bob wor* lang:en`)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(PositiveTerms(n), ",")
	if want := "#go,hello,world,rust,zig"; got != want {
		t.Errorf("PositiveTerms = %s, want %s", got, want)
	}
	if PositiveTerms(nil) != nil {
		t.Error("PositiveTerms(nil) is not nil")
	}
}

// bleveSearcher adapts a bleve index to Searcher.
type bleveSearcher struct{ idx bleve.Index }

func (b bleveSearcher) Search(ctx context.Context, req *bleve.SearchRequest) (*bleve.SearchResult, error) {
	return b.idx.SearchInContext(ctx, req)
}

func peerID(t testing.TB, k crypto.PrivKey) string {
	t.Helper()
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

type corpus struct {
	idx   bleve.Index
	s     Searcher
	posts map[string]*post.Post // by text
}

func newCorpus(t *testing.T) *corpus {
	t.Helper()
	idx, err := bleve.NewMemOnly(index.NewMapping())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idx.Close() })
	return &corpus{idx: idx, s: bleveSearcher{idx}, posts: map[string]*post.Post{}}
}

// add signs and indexes a post; mutate, if set, changes the stored JSON.
func (c *corpus) add(t *testing.T, k crypto.PrivKey, d post.Draft, mutate func([]byte) []byte) *post.Post {
	t.Helper()
	p, err := post.Sign(k, d, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		js = mutate(js)
	}
	doc := index.Document{
		Text:      p.Text,
		Author:    p.Author,
		Label:     strings.ToLower(p.Label),
		Lang:      p.Lang,
		CreatedAt: p.CreatedAt.Format("2006-01-02T15:04:05.000Z07:00"),
		ReplyTo:   p.ReplyTo,
		Post:      string(js),
	}
	if err := c.idx.Index(p.ID, doc); err != nil {
		t.Fatal(err)
	}
	c.posts[p.Text] = p
	return p
}

var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const pagingCount = 25

func fixture(t *testing.T) (*corpus, crypto.PrivKey, crypto.PrivKey) {
	t.Helper()
	c := newCorpus(t)
	alice, bot := testkit.Key(t), testkit.Key(t)
	for i, d := range []post.Draft{
		{Text: "Learning #Go today with @alice", Lang: "en"},
		{Text: "Rust and Go are both fine", Lang: "en"},
		{Text: "Bonjour le monde, hello world", Lang: "fr", CreatedAt: time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC)},
		{Text: "hello world from murmur", Lang: "en", CreatedAt: time.Date(2024, 2, 15, 0, 0, 0, 0, time.UTC)},
		{Text: "world hello reversed", Lang: "en"},
		{Text: "spam spam go", Lang: "en"},
		{Text: "gopher gophers everywhere", Lang: "en"},
		{Text: "see https://www.example.com/page for more", Lang: "en"},
	} {
		if d.CreatedAt.IsZero() {
			d.CreatedAt = base.Add(time.Duration(i) * time.Minute)
		}
		c.add(t, alice, d, nil)
	}
	// Paging posts: many share both a score and a creation time.
	for i := range pagingCount {
		text := fmt.Sprintf("paging sample number%d", i)
		if i%3 == 0 {
			text = fmt.Sprintf("paging sample paging number%d", i)
		}
		c.add(t, bot, post.Draft{
			Text:      text,
			Lang:      "de",
			Label:     "BobBot",
			CreatedAt: base.Add(-time.Duration(i/4) * time.Hour),
		}, nil)
	}
	return c, alice, bot
}

func texts(r *Result) []string {
	out := make([]string, len(r.Hits))
	for i, h := range r.Hits {
		out[i] = h.Post.Text
	}
	return out
}

func TestRunMatches(t *testing.T) {
	c, alice, _ := fixture(t)
	ctx := context.Background()
	cases := []struct {
		req  Request
		want []string // expected texts, any order
	}{
		{Request{Q: "hello world"}, []string{"Bonjour le monde, hello world", "hello world from murmur", "world hello reversed"}},
		{Request{Q: `"hello world"`}, []string{"Bonjour le monde, hello world", "hello world from murmur"}},
		{Request{Q: "#go"}, []string{"Learning #Go today with @alice"}},
		{Request{Q: "go"}, []string{"Learning #Go today with @alice", "Rust and Go are both fine", "spam spam go"}},
		{Request{Q: "go -spam"}, []string{"Learning #Go today with @alice", "Rust and Go are both fine"}},
		{Request{Q: "@alice"}, []string{"Learning #Go today with @alice"}},
		{Request{Q: "rust OR reversed"}, []string{"Rust and Go are both fine", "world hello reversed"}},
		{Request{Q: "hello lang:fr"}, []string{"Bonjour le monde, hello world"}},
		{Request{Q: "hello", Lang: "FR"}, []string{"Bonjour le monde, hello world"}},
		{Request{Q: "hello since:2024-02-01"}, []string{"hello world from murmur", "world hello reversed"}},
		{Request{Q: "hello until:2024-02-15"}, []string{"Bonjour le monde, hello world"}},
		{Request{Q: "hello", Since: "2024-01-15", Until: "2024-02-15T00:00:00.001Z"}, []string{"Bonjour le monde, hello world", "hello world from murmur"}},
		{Request{Q: "hello from:" + peerID(t, alice)}, []string{"Bonjour le monde, hello world", "hello world from murmur", "world hello reversed"}},
		{Request{Q: "number3 from:bobbot"}, []string{"paging sample paging number3"}},
		{Request{Q: "number3 from:alice"}, nil},
		{Request{Q: `number3 from:"Bob Bot"`}, nil},
		{Request{Q: `number3 from:"BOBBOT"`}, []string{"paging sample paging number3"}},
		{Request{Q: "goph*"}, []string{"gopher gophers everywhere"}},
		{Request{Q: "gopher~1 -everywhere"}, nil},
		{Request{Q: "wor?d"}, []string{"Bonjour le monde, hello world", "hello world from murmur", "world hello reversed"}},
		{Request{Q: "http://example.com"}, []string{"see https://www.example.com/page for more"}},
		{Request{Q: "(rust OR spam) go -fine"}, []string{"spam spam go"}},
	}
	for _, tc := range cases {
		res, err := Run(ctx, c.s, tc.req)
		if err != nil {
			t.Errorf("Run(%+v): %v", tc.req, err)
			continue
		}
		got := texts(res)
		if !testkit.SameSet(got, tc.want) {
			t.Errorf("Run(%+v) = %q, want %q", tc.req, got, tc.want)
		}
		if res.Total != uint64(len(tc.want)) || res.Dropped != 0 || res.NextCursor != "" {
			t.Errorf("Run(%+v): total %d dropped %d cursor %q", tc.req, res.Total, res.Dropped, res.NextCursor)
		}
	}
}

func TestRunMatchSpans(t *testing.T) {
	c, _, _ := fixture(t)
	res, err := Run(context.Background(), c.s, Request{Q: "#go OR today"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 1 {
		t.Fatalf("hits %q", texts(res))
	}
	h := res.Hits[0]
	want := []Span{{9, 12}, {13, 18}} // "#Go", "today"
	if fmt.Sprint(h.Matches) != fmt.Sprint(want) {
		t.Errorf("matches %v, want %v", h.Matches, want)
	}
	for _, s := range h.Matches {
		t.Logf("match %q", h.Post.Text[s.Start:s.End])
	}
	if h.Score <= 0 {
		t.Errorf("score %v", h.Score)
	}
}

func TestRunPaging(t *testing.T) {
	c, _, _ := fixture(t)
	ctx := context.Background()
	for _, s := range []Sort{"", SortTop, SortLatest} {
		seen := map[string]bool{}
		var order []*post.Post
		req := Request{Q: "paging sample", Sort: s, Limit: 3}
		for page := 0; ; page++ {
			if page > pagingCount {
				t.Fatalf("sort %q: too many pages", s)
			}
			res, err := Run(ctx, c.s, req)
			if err != nil {
				t.Fatalf("sort %q page %d: %v", s, page, err)
			}
			if res.Total != pagingCount {
				t.Errorf("sort %q: total %d", s, res.Total)
			}
			if len(res.Hits) > 3 {
				t.Fatalf("sort %q: %d hits on a page", s, len(res.Hits))
			}
			for _, h := range res.Hits {
				if seen[h.Post.ID] {
					t.Errorf("sort %q: %q seen twice", s, h.Post.Text)
				}
				seen[h.Post.ID] = true
				order = append(order, h.Post)
			}
			if res.NextCursor == "" {
				break
			}
			req.Cursor = res.NextCursor
		}
		if len(seen) != pagingCount {
			t.Errorf("sort %q: walked %d posts, want %d", s, len(seen), pagingCount)
		}
		if s == SortLatest {
			for i := 1; i < len(order); i++ {
				if order[i].CreatedAt.After(order[i-1].CreatedAt) {
					t.Errorf("latest: %s after %s", order[i].CreatedAt, order[i-1].CreatedAt)
				}
			}
		} else if len(order) > 0 && !strings.Contains(order[0].Text, "paging sample paging") {
			t.Errorf("top: first hit %q is not one with the most matches", order[0].Text)
		}
	}
}

func TestRunLastPageExact(t *testing.T) {
	c, _, _ := fixture(t)
	// "go" matches 3 posts: a page of 3 is the last page.
	res, err := Run(context.Background(), c.s, Request{Q: "go", Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 3 || res.NextCursor != "" {
		t.Errorf("hits %d, cursor %q", len(res.Hits), res.NextCursor)
	}
}

func TestRunCursorErrors(t *testing.T) {
	c, _, _ := fixture(t)
	ctx := context.Background()
	res, err := Run(ctx, c.s, Request{Q: "paging sample", Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.NextCursor == "" {
		t.Fatal("no cursor")
	}
	for _, req := range []Request{
		{Q: "paging", Limit: 3, Cursor: res.NextCursor},
		{Q: "paging sample", Limit: 3, Sort: SortLatest, Cursor: res.NextCursor},
		{Q: "paging sample", Limit: 3, Lang: "de", Cursor: res.NextCursor},
		{Q: "paging sample", Cursor: "not a cursor!"},
		{Q: "paging sample", Cursor: "eyJ2IjoxfQ"}, // {"v":1}
		{Q: "paging sample", Cursor: strings.Repeat("A", 5000)},
	} {
		_, err := Run(ctx, c.s, req)
		var re *RequestError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), "cursor") {
			t.Errorf("Run(%+v) = %v, want a RequestError about the cursor", req, err)
		}
	}
	// The same query written differently keeps the cursor valid.
	if _, err := Run(ctx, c.s, Request{Q: "  Paging   AND sample ", Limit: 3, Cursor: res.NextCursor}); err != nil {
		t.Errorf("equivalent query: %v", err)
	}
}

func TestRunRequestErrors(t *testing.T) {
	c, _, _ := fixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Q: "go", Sort: "oldest"}, `sort "oldest" is unknown; use top or latest`},
		{Request{Q: "go", Limit: -1}, "limit"},
		{Request{Q: "go", Limit: MaxLimit + 1}, "1000"},
		{Request{Q: "go", Since: "yesterday"}, "since"},
		{Request{Q: "go", Until: "2024-02-30"}, "until"},
	} {
		_, err := Run(ctx, c.s, tc.req)
		var re *RequestError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run(%+v) = %v, want a RequestError containing %q", tc.req, err, tc.want)
		}
	}
	_, err := Run(ctx, c.s, Request{Q: "foo:bar"})
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Errorf("bad query: %v, want a SyntaxError", err)
	}
	res, err := Run(ctx, c.s, Request{Q: "paging", Limit: MaxLimit})
	if err != nil || len(res.Hits) != pagingCount {
		t.Errorf("limit %d: %v, %d hits", MaxLimit, err, len(res.Hits))
	}
	res, err = Run(ctx, c.s, Request{Q: "paging"})
	if err != nil || len(res.Hits) != DefaultLimit || res.NextCursor == "" {
		t.Errorf("default limit: %v", err)
	}
}

func TestRunDropsTampered(t *testing.T) {
	c := newCorpus(t)
	k := testkit.Key(t)
	c.add(t, k, post.Draft{Text: "honest words", CreatedAt: base}, nil)
	c.add(t, k, post.Draft{Text: "honest claims", CreatedAt: base}, func(b []byte) []byte {
		return []byte(strings.Replace(string(b), "honest claims", "honest lies!", 1))
	})
	res, err := Run(context.Background(), c.s, Request{Q: "honest"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 2 || res.Dropped != 1 || len(res.Hits) != 1 || res.Hits[0].Post.Text != "honest words" {
		t.Errorf("total %d dropped %d hits %q", res.Total, res.Dropped, texts(res))
	}
}

type failingSearcher struct{}

func (failingSearcher) Search(context.Context, *bleve.SearchRequest) (*bleve.SearchResult, error) {
	return nil, errors.New("index closed")
}

func TestRunSearchError(t *testing.T) {
	_, err := Run(context.Background(), failingSearcher{}, Request{Q: "go"})
	if err == nil || !strings.Contains(err.Error(), "index closed") {
		t.Errorf("err %v", err)
	}
}

// TestPrepareRemembersOnlyTheSameRequest: a parsed query is remembered
// (ParsedCacheSize) and reused for the very same request alone: the
// same text with another filter or sort is parsed with its own, each time,
// and a bad filter is refused each time.
func TestPrepareRemembersOnlyTheSameRequest(t *testing.T) {
	reqs := []Request{
		{Q: "heron reeds"},
		{Q: "heron reeds", Lang: "de"},
		{Q: "heron reeds", Since: "2026-01-01"},
		{Q: "heron reeds", Until: "2026-01-01"},
		{Q: "heron reeds", Sort: SortLatest},
		{Q: "heron OR reeds"},
	}
	var first []string
	for round := range 3 {
		for i, req := range reqs {
			p, err := Prepare(req)
			if err != nil {
				t.Fatalf("%+v: %v", req, err)
			}
			got := p.Expr.String() + " " + string(p.Sort)
			if round == 0 {
				for j, f := range first {
					if f == got {
						t.Fatalf("requests %+v and %+v prepared alike: %s", reqs[j], req, got)
					}
				}
				first = append(first, got)
			} else if got != first[i] {
				t.Fatalf("round %d, %+v: %s, first %s", round, req, got, first[i])
			}
		}
		if _, err := Prepare(Request{Q: "heron reeds", Since: "yesterday"}); err == nil {
			t.Fatalf("round %d: a bad since was taken", round)
		}
	}
}
