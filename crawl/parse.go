package crawl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"strings"
	"time"

	"github.com/mmcdole/gofeed"
	"golang.org/x/net/html"
)

// acceptFeeds is the Accept header of a source fetch: feeds first, then
// ActivityPub, then the HTML page that may link them.
const acceptFeeds = "application/rss+xml, application/atom+xml, application/feed+json, application/activity+json;q=0.95, " +
	`application/ld+json; profile="https://www.w3.org/ns/activitystreams";q=0.95, application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, text/html;q=0.7, */*;q=0.1`

// acceptActivity is the Accept header of ActivityPub fetches.
const acceptActivity = `application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"`

// docKind is what a fetched document turned out to be.
type docKind int

const (
	kindFeed docKind = iota
	kindActivity
	kindHTML
)

func sniff(contentType string, body []byte) docKind {
	mt, _, _ := mime.ParseMediaType(contentType)
	trimmed := bytes.TrimLeft(body, " \t\r\n\ufeff")
	switch {
	case mt == "application/activity+json", mt == "application/ld+json":
		return kindActivity
	case mt == "text/html", mt == "application/xhtml+xml":
		return kindHTML
	case len(trimmed) > 0 && trimmed[0] == '{' && bytes.Contains(body, []byte("https://www.w3.org/ns/activitystreams")):
		return kindActivity
	case len(trimmed) > 0 && trimmed[0] == '<' && (hasPrefixFold(trimmed, "<!doctype html") || hasPrefixFold(trimmed, "<html")):
		return kindHTML
	}
	return kindFeed
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}

// parseFeed reads an RSS, Atom or JSON Feed document.
func parseFeed(body []byte) (items []Item, title string, err error) {
	feed, err := gofeed.NewParser().Parse(bytes.NewReader(body))
	if err != nil {
		return nil, "", fmt.Errorf("not a feed (RSS, Atom, JSON Feed): %w", err)
	}
	// gofeed drops JSON Feed's per-item language; read it back.
	var jsonLangs map[string]string
	if feed.FeedType == "json" {
		var jf struct {
			Items []struct {
				ID       json.RawMessage `json:"id"`
				Language string          `json:"language"`
			} `json:"items"`
		}
		if json.Unmarshal(body, &jf) == nil {
			jsonLangs = map[string]string{}
			for _, it := range jf.Items {
				var id string
				if json.Unmarshal(it.ID, &id) != nil {
					id = string(it.ID)
				}
				jsonLangs[id] = it.Language
			}
		}
	}
	for _, fi := range feed.Items {
		if fi == nil {
			continue
		}
		it := Item{GUID: fi.GUID, Link: fi.Link, Title: fi.Title, Summary: fi.Description, Content: fi.Content, Lang: feed.Language}
		switch {
		case fi.PublishedParsed != nil:
			it.Published = *fi.PublishedParsed
		case fi.UpdatedParsed != nil:
			it.Published = *fi.UpdatedParsed
		}
		if fi.DublinCoreExt != nil && len(fi.DublinCoreExt.Language) > 0 {
			it.Lang = fi.DublinCoreExt.Language[0]
		}
		if l := jsonLangs[fi.GUID]; l != "" {
			it.Lang = l
		}
		switch {
		case len(fi.Authors) > 0 && fi.Authors[0] != nil && fi.Authors[0].Name != "":
			it.Author = fi.Authors[0].Name
		case fi.Author != nil && fi.Author.Name != "":
			it.Author = fi.Author.Name
		default:
			it.Author = feed.Title
		}
		items = append(items, it)
		if len(items) == MaxItemsPerFetch {
			break
		}
	}
	return items, feed.Title, nil
}

// feedTypes are the link types discovery follows, best first.
var feedTypes = []string{"application/atom+xml", "application/rss+xml", "application/feed+json", "application/json", "application/activity+json"}

// discover returns the feed links of an HTML page (<link rel="alternate"
// type="..."> in its head), best type first, resolved against base.
func discover(body []byte, base string) []string {
	b, err := url.Parse(base)
	if err != nil {
		return nil
	}
	found := map[string][]string{}
	z := html.NewTokenizer(bytes.NewReader(body))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		name, hasAttr := z.TagName()
		if string(name) == "body" {
			break
		}
		if string(name) != "link" || !hasAttr {
			continue
		}
		var rel, typ, href string
		for {
			k, v, more := z.TagAttr()
			switch string(k) {
			case "rel":
				rel = strings.ToLower(string(v))
			case "type":
				typ = strings.ToLower(strings.TrimSpace(string(v)))
			case "href":
				href = strings.TrimSpace(string(v))
			}
			if !more {
				break
			}
		}
		if !containsField(rel, "alternate") || href == "" {
			continue
		}
		mt, _, _ := mime.ParseMediaType(typ)
		u, err := b.Parse(href)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			continue
		}
		u.Fragment = ""
		found[mt] = append(found[mt], u.String())
	}
	var out []string
	for _, t := range feedTypes {
		out = append(out, found[t]...)
	}
	return out
}

func containsField(s, want string) bool {
	for _, f := range strings.Fields(s) {
		if f == want {
			return true
		}
	}
	return false
}

// asObject is an ActivityStreams object as far as the crawler reads it.
type asObject struct {
	ID           string            `json:"id"`
	Type         json.RawMessage   `json:"type"`
	Outbox       json.RawMessage   `json:"outbox"`
	First        json.RawMessage   `json:"first"`
	Next         json.RawMessage   `json:"next"`
	OrderedItems []json.RawMessage `json:"orderedItems"`
	Items        []json.RawMessage `json:"items"`
	Object       json.RawMessage   `json:"object"`
	Name         string            `json:"name"`
	Summary      string            `json:"summary"`
	Content      string            `json:"content"`
	ContentMap   map[string]string `json:"contentMap"`
	URL          json.RawMessage   `json:"url"`
	Published    string            `json:"published"`
	Updated      string            `json:"updated"`
	Sensitive    bool              `json:"sensitive"`
}

// ref reads a property that is either a URL string or an embedded object
// (with an id); it returns the URL and the embedded object if any.
func ref(raw json.RawMessage) (string, *asObject) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var o asObject
	if json.Unmarshal(raw, &o) == nil {
		return o.ID, &o
	}
	var links []json.RawMessage
	if json.Unmarshal(raw, &links) == nil && len(links) > 0 {
		return ref(links[0])
	}
	return "", nil
}

func (o *asObject) hasType(types ...string) bool {
	var one string
	var many []string
	if json.Unmarshal(o.Type, &one) == nil {
		many = []string{one}
	} else {
		_ = json.Unmarshal(o.Type, &many)
	}
	for _, t := range many {
		for _, want := range types {
			if t == want {
				return true
			}
		}
	}
	return false
}

func parseActivity(body []byte) (*asObject, error) {
	var o asObject
	if err := json.Unmarshal(body, &o); err != nil {
		return nil, fmt.Errorf("not an ActivityStreams document: %w", err)
	}
	return &o, nil
}

// collectionItems turns a collection page's activities into items: the
// notes and articles of Create activities (and bare ones); boosts and
// activities whose object is only a link are skipped, since fetching each
// would cost one request per item.
func collectionItems(o *asObject, label string) []Item {
	raws := o.OrderedItems
	if len(raws) == 0 {
		raws = o.Items
	}
	var out []Item
	for _, raw := range raws {
		_, act := ref(raw)
		if act == nil {
			continue
		}
		obj := act
		if act.hasType("Create") {
			if _, obj = ref(act.Object); obj == nil {
				continue
			}
		}
		if !obj.hasType("Note", "Article", "Page", "Question") {
			continue
		}
		it := Item{GUID: obj.ID, Title: obj.Name, Summary: obj.Content, Author: label}
		if obj.Content == "" {
			it.Summary = obj.Summary
		}
		for lang, text := range obj.ContentMap {
			if it.Summary == "" {
				it.Summary = text
			}
			if text == obj.Content || len(obj.ContentMap) == 1 {
				it.Lang = lang
			}
		}
		if obj.Sensitive && obj.Summary != "" {
			// A content warning: keep only the warning, not what it hides.
			it.Summary = "CW: " + obj.Summary
		}
		it.Link, _ = ref(obj.URL)
		if it.Link == "" {
			it.Link = obj.ID
		}
		for _, s := range []string{obj.Published, obj.Updated, act.Published} {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				it.Published = t
				break
			}
		}
		out = append(out, it)
	}
	return out
}
