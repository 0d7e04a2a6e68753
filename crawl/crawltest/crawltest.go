// Package crawltest builds feeds for crawler tests: RSS 2.0, Atom, JSON
// Feed, ActivityPub actors and outboxes, and HTML pages that link a feed,
// from real texts, and serves them from a counting httptest server.
package crawltest

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/internal/corpus"
	"github.com/murmur-p2p/murmur/internal/testenv"
)

// Entry is one feed item.
type Entry struct {
	ID        string
	Title     string
	Text      string
	Link      string
	Published time.Time
	Lang      string
}

var (
	loadOnce sync.Once
	loaded   []corpus.Entry
	loadErr  error
)

// Fortunes returns n entries made from distinct Debian fortunes of language
// lang, starting at the offset-th; it skips t when the corpus is absent.
// Texts are kept under 400 characters so a title and link still fit a post.
func Fortunes(t testing.TB, lang string, offset, n int) []Entry {
	t.Helper()
	testenv.Need(t, corpus.Available(), "the Debian fortunes corpus", corpus.InstallHint)
	loadOnce.Do(func() { loaded, loadErr = corpus.Load() })
	if loadErr != nil {
		t.Fatalf("load corpus: %v", loadErr)
	}
	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var out []Entry
	skipped := 0
	for _, e := range loaded {
		if e.Lang != lang || len([]rune(e.Text)) > 400 || len(strings.Fields(e.Text)) < 4 {
			continue
		}
		if skipped < offset {
			skipped++
			continue
		}
		i := len(out) + offset
		words := strings.Fields(e.Text)
		out = append(out, Entry{
			ID:        fmt.Sprintf("urn:murmur-test:%s:%d", lang, i),
			Title:     strings.Join(words[:3], " "),
			Text:      e.Text,
			Link:      fmt.Sprintf("https://fortunes.example/%s/%d", lang, i),
			Published: base.Add(time.Duration(i) * time.Hour),
			Lang:      e.Lang,
		})
		if len(out) == n {
			return out
		}
	}
	t.Fatalf("corpus has fewer than %d usable %q fortunes after %d", n, lang, offset)
	return nil
}

func esc(s string) string { return html.EscapeString(s) }

// RSS renders entries as RSS 2.0, the text as escaped HTML in description.
func RSS(title, lang string, es []Entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>%s</title><link>https://fortunes.example/</link><description>test</description><language>%s</language>
`, esc(title), lang)
	for _, e := range es {
		fmt.Fprintf(&b, "<item><title>%s</title><link>%s</link><guid>%s</guid><pubDate>%s</pubDate><description>%s</description></item>\n",
			esc(e.Title), esc(e.Link), esc(e.ID), e.Published.Format(time.RFC1123Z), esc("<p>"+esc(e.Text)+"</p>"))
	}
	b.WriteString("</channel></rss>\n")
	return b.String()
}

// Atom renders entries as an Atom feed with HTML content.
func Atom(title, lang string, es []Entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="%s"><title>%s</title><id>urn:feed</id><updated>2025-06-01T12:00:00Z</updated><author><name>Fortune</name></author>
`, lang, esc(title))
	for _, e := range es {
		var text strings.Builder
		_ = xml.EscapeText(&text, []byte("<div>"+esc(e.Text)+"</div>"))
		fmt.Fprintf(&b, `<entry><title>%s</title><id>%s</id><link href="%s"/><updated>%s</updated><published>%s</published><summary type="html">%s</summary></entry>
`, esc(e.Title), esc(e.ID), esc(e.Link), e.Published.Format(time.RFC3339), e.Published.Format(time.RFC3339), text.String())
	}
	b.WriteString("</feed>\n")
	return b.String()
}

// JSONFeed renders entries as JSON Feed 1.1, each item with its language.
func JSONFeed(title string, es []Entry) string {
	type item struct {
		ID            string `json:"id"`
		URL           string `json:"url"`
		Title         string `json:"title"`
		ContentText   string `json:"content_text"`
		DatePublished string `json:"date_published"`
		Language      string `json:"language,omitempty"`
	}
	f := struct {
		Version string `json:"version"`
		Title   string `json:"title"`
		Items   []item `json:"items"`
	}{Version: "https://jsonfeed.org/version/1.1", Title: title}
	for _, e := range es {
		f.Items = append(f.Items, item{e.ID, e.Link, e.Title, e.Text, e.Published.Format(time.RFC3339), e.Lang})
	}
	data, _ := json.Marshal(f)
	return string(data)
}

// Actor renders an ActivityPub actor whose outbox is at outbox.
func Actor(id, outbox string) string {
	data, _ := json.Marshal(map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams", "id": id, "type": "Person",
		"preferredUsername": "fortune", "outbox": outbox,
	})
	return string(data)
}

// Outbox renders an OrderedCollection whose first page is first.
func Outbox(id, first string, total int) string {
	data, _ := json.Marshal(map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams", "id": id, "type": "OrderedCollection",
		"totalItems": total, "first": first,
	})
	return string(data)
}

// OutboxPage renders an OrderedCollectionPage of Create activities of
// Notes, with next ("" for none).
func OutboxPage(id, next string, es []Entry) string {
	var items []any
	for _, e := range es {
		items = append(items, map[string]any{
			"id": e.ID + "/activity", "type": "Create", "published": e.Published.Format(time.RFC3339),
			"object": map[string]any{
				"id": e.ID, "type": "Note", "url": e.Link, "published": e.Published.Format(time.RFC3339),
				"content": "<p>" + esc(e.Text) + "</p>", "contentMap": map[string]string{e.Lang: "<p>" + esc(e.Text) + "</p>"},
			},
		})
	}
	page := map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": id, "type": "OrderedCollectionPage", "orderedItems": items}
	if next != "" {
		page["next"] = next
	}
	data, _ := json.Marshal(page)
	return string(data)
}

// Page renders an HTML page that links feedURL as its feed.
func Page(feedURL, feedType string) string {
	return fmt.Sprintf(`<!DOCTYPE html><html><head><title>Fortunes</title>
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="%s" title="Fortunes" href="%s">
</head><body><p>Fortunes, <a href="%s">subscribe</a>.</p></body></html>`, feedType, esc(feedURL), esc(feedURL))
}

// Doc is one document a Server serves.
type Doc struct {
	ContentType string
	Body        string
	// ETag, if set, is sent, and a matching If-None-Match gets a 304.
	ETag string
	// LastModified, if set, is sent, and a matching If-Modified-Since gets a 304.
	LastModified string
}

// Server serves documents by path and counts requests per path. Handlers
// may replace a path's behaviour with Handle.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	docs     map[string]Doc
	handlers map[string]http.HandlerFunc
	hits     map[string]int
	notMod   map[string]int
	agents   map[string]bool
}

// NewServer starts a server on 127.0.0.1, closed when t ends.
func NewServer(t testing.TB) *Server {
	s := &Server{docs: map[string]Doc{}, handlers: map[string]http.HandlerFunc{}, hits: map[string]int{}, notMod: map[string]int{}, agents: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Set serves doc at path.
func (s *Server) Set(path string, doc Doc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[path] = doc
}

// Handle serves path with h.
func (s *Server) Handle(path string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[path] = h
}

// Hits is how many requests path got.
func (s *Server) Hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// NotModified is how many requests to path were answered 304.
func (s *Server) NotModified(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notMod[path]
}

// Total is how many requests the server got.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.hits {
		n += v
	}
	return n
}

// Agents lists the User-Agent headers seen.
func (s *Server) Agents() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for a := range s.agents {
		out = append(out, a)
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.URL.Path]++
	s.agents[r.UserAgent()] = true
	h, hok := s.handlers[r.URL.Path]
	d, dok := s.docs[r.URL.Path]
	s.mu.Unlock()
	switch {
	case hok:
		h(w, r)
	case dok:
		if (d.ETag != "" && r.Header.Get("If-None-Match") == d.ETag) || (d.LastModified != "" && r.Header.Get("If-Modified-Since") == d.LastModified) {
			s.mu.Lock()
			s.notMod[r.URL.Path]++
			s.mu.Unlock()
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if d.ETag != "" {
			w.Header().Set("ETag", d.ETag)
		}
		if d.LastModified != "" {
			w.Header().Set("Last-Modified", d.LastModified)
		}
		w.Header().Set("Content-Type", d.ContentType)
		_, _ = w.Write([]byte(d.Body))
	default:
		http.NotFound(w, r)
	}
}
