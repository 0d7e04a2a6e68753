package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/feeds"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/query"
)

// FeedSize is how many posts a search feed holds, newest first.
const FeedSize = 50

// feedFormats are the feeds of a search, in the order result pages link
// them: path, media type, the name a link gives it, and how the
// gorilla/feeds document becomes bytes.
var feedFormats = []feedFormat{
	{"/search.atom", "application/atom+xml", "Atom feed", (*feeds.Feed).ToAtom},
	{"/search.rss", "application/rss+xml", "RSS feed", (*feeds.Feed).ToRss},
	{"/search.json", "application/feed+json", "JSON Feed", (*feeds.Feed).ToJSON},
}

// feedFormat is one format a search is served in.
type feedFormat struct {
	path, mediaType, name string
	encode                func(*feeds.Feed) (string, error)
}

// feedLink is an alternate link of a result page.
type feedLink struct{ Type, Title, Href string }

// feedLinksOf lists the feeds of query q for a result page's head.
func feedLinksOf(q string) []feedLink {
	if strings.TrimSpace(q) == "" {
		return nil
	}
	v := url.Values{"q": {q}}.Encode()
	var links []feedLink
	for _, f := range feedFormats {
		links = append(links, feedLink{f.mediaType, f.name + " of " + q, f.path + "?" + v})
	}
	return links
}

// feed serves a search as a feed in format (Atom, RSS 2.0 or JSON Feed 1.1): the
// FeedSize newest matches, with an ETag naming them and Last-Modified the
// newest one's time, so a reader's conditional GET costs one search and no
// body when nothing changed.
func (p *Page) feed(w http.ResponseWriter, r *http.Request, format feedFormat) {
	q := r.URL.Query().Get("q")
	switch {
	case strings.TrimSpace(q) == "":
		http.Error(w, "a feed is a search: give it one with ?q=", http.StatusBadRequest)
		return
	case len(q) > MaxQueryLen:
		http.Error(w, fmt.Sprintf("the query is longer than %d bytes", MaxQueryLen), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(query.WithCaller(r.Context(), api.CallerOf(r)), PageSearchTimeout)
	defer cancel()
	res, err := p.b.Search(ctx, query.Request{Q: q, Sort: query.SortLatest, Limit: FeedSize})
	if err != nil {
		code, msg := p.failure(r, err)
		http.Error(w, msg, code)
		return
	}
	base := baseURL(r)
	page := base + "/?" + url.Values{"q": {q}, "sort": {string(query.SortLatest)}}.Encode()
	f := &feeds.Feed{
		Title:       "murmur: " + q,
		Link:        &feeds.Link{Href: page},
		Description: fmt.Sprintf("The newest posts that match %q, from the whole murmur network, as this node found them.", q),
		Id:          page,
	}
	tag := sha256.New()
	tag.Write([]byte(r.URL.Path + "\n" + q + "\n"))
	var newest time.Time
	for _, h := range res.Hits {
		pp := h.Post
		tag.Write([]byte(pp.ID))
		if pp.CreatedAt.After(newest) {
			newest = pp.CreatedAt
		}
		author := pp.Author
		if pp.Label != "" {
			author = fmt.Sprintf("%s [a label, signed by %s]", pp.Label, pp.Author)
		}
		link := base + "/p/" + pp.ID
		f.Items = append(f.Items, &feeds.Item{
			Title:       title(pp.Text),
			Link:        &feeds.Link{Href: link},
			Author:      &feeds.Author{Name: author},
			Description: pp.Text,
			Content:     "<p>" + strings.ReplaceAll(html.EscapeString(pp.Text), "\n", "<br>") + "</p>",
			Id:          link,
			Created:     pp.CreatedAt,
			Updated:     pp.CreatedAt,
		})
	}
	if newest.IsZero() {
		newest = time.Unix(0, 0)
	}
	f.Updated = newest
	body, err := format.encode(f)
	if err != nil {
		p.log.Error("encode a feed", "path", r.URL.Path, "err", err)
		http.Error(w, "internal error encoding the feed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", format.mediaType+"; charset=utf-8")
	h.Set("ETag", `"`+hex.EncodeToString(tag.Sum(nil))[:32]+`"`)
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", newest, strings.NewReader(body))
}

// title is a feed item's title: the text's first line, cut to 80
// characters.
func title(text string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(text), "\n")
	if utf8.RuneCountInString(line) > 80 {
		r := []rune(line)
		line = string(r[:79]) + "…"
	}
	return line
}

// baseURL is the scheme and host the request came to, for the absolute
// links a feed needs.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// openSearch serves the OpenSearch description that lets a browser add
// this node as a search engine: result pages, and the Atom feed.
func (p *Page) openSearch(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r)
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<OpenSearchDescription xmlns="http://a9.com/-/spec/opensearch/1.1/">` + "\n")
	b.WriteString("<ShortName>murmur</ShortName>\n<Description>Search the murmur network through this node</Description>\n<InputEncoding>UTF-8</InputEncoding>\n")
	fmt.Fprintf(&b, `<Url type="text/html" method="get" template="%s/?q={searchTerms}"/>`+"\n", xmlAttr(base))
	fmt.Fprintf(&b, `<Url type="application/atom+xml" method="get" template="%s/search.atom?q={searchTerms}"/>`+"\n", xmlAttr(base))
	b.WriteString("</OpenSearchDescription>\n")
	w.Header().Set("Content-Type", "application/opensearchdescription+xml; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

func xmlAttr(s string) string {
	var out bytes.Buffer
	_ = xml.EscapeText(&out, []byte(s))
	return out.String()
}
