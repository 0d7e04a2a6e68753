package web_test

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"github.com/murmur-p2p/murmur/api"
)

// TestSearchFeeds: a search is served as Atom, RSS and JSON Feed; a real
// feed parser (the crawler's gofeed) reads each with the required fields,
// newest first, labels beside their signers; a conditional GET is answered
// 304 until a new post matches; result pages link the feeds and the
// OpenSearch description, which names the search URLs.
func TestSearchFeeds(t *testing.T) {
	n := startNodes(t, 1)[0]
	day := time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)
	var lines []api.ImportLine
	for i := range 5 {
		lines = append(lines, api.ImportLine{Text: fmt.Sprintf("kestrel sighting %d <b>over</b> the dunes", i),
			CreatedAt: day.Add(time.Duration(i) * time.Hour).Format(time.RFC3339), Author: "Dune Watch"})
	}
	lines = append(lines, api.ImportLine{Text: "nothing about birds", CreatedAt: day.Format(time.RFC3339)})
	n.importPosts(t, lines)

	q := url.Values{"q": {"kestrel"}}.Encode()
	for _, path := range []string{"/search.atom", "/search.rss", "/search.json"} {
		resp, body := fetch(t, n.base+path+"?"+q, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s\n%s", path, resp.Status, body)
		}
		f, err := gofeed.NewParser().ParseString(body)
		if err != nil {
			t.Fatalf("%s does not parse as a feed: %v\n%s", path, err, body)
		}
		if f.Title == "" || f.Link == "" || len(f.Items) != 5 {
			t.Fatalf("%s: title %q, link %q, %d items; want 5", path, f.Title, f.Link, len(f.Items))
		}
		for i, it := range f.Items {
			want := fmt.Sprintf("kestrel sighting %d", 4-i)
			if !strings.HasPrefix(it.Title, want) || it.Link == "" || !strings.Contains(it.Link, "/p/") || it.GUID == "" && path != "/search.json" ||
				it.PublishedParsed == nil && it.UpdatedParsed == nil {
				t.Fatalf("%s item %d: %+v; want %q first, with a link, an ID and a date", path, i, it, want)
			}
			if len(it.Authors) == 0 && it.Author == nil || !strings.Contains(authorName(it), "Dune Watch [a label, signed by 12D3") {
				t.Fatalf("%s item %d: author %q; want the label beside its signer", path, i, authorName(it))
			}
		}
		etag, modified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
		if etag == "" || modified == "" {
			t.Fatalf("%s: ETag %q, Last-Modified %q", path, etag, modified)
		}
		if resp, _ := fetch(t, n.base+path+"?"+q, http.Header{"If-None-Match": {etag}}); resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: %s, want 304", path, resp.Status)
		}
		if resp, _ := fetch(t, n.base+path+"?"+q, http.Header{"If-Modified-Since": {modified}}); resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-Modified-Since: %s, want 304", path, resp.Status)
		}
	}

	resp, _ := fetch(t, n.base+"/search.atom?"+q, nil)
	etag := resp.Header.Get("ETag")
	n.publish(t, "a new kestrel, just now", "")
	resp, body := fetch(t, n.base+"/search.atom?"+q, http.Header{"If-None-Match": {etag}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag {
		t.Fatalf("after a new match: %s, ETag %q (was %q)", resp.Status, resp.Header.Get("ETag"), etag)
	}
	if f, err := gofeed.NewParser().ParseString(body); err != nil || len(f.Items) != 6 || !strings.HasPrefix(f.Items[0].Title, "a new kestrel") {
		t.Fatalf("the feed after a new match: %v, %+v", err, f)
	}

	if resp, body := fetch(t, n.base+"/search.rss", nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "?q=") {
		t.Errorf("a feed without a query: %s %q, want 400 saying to give one", resp.Status, body)
	}

	_, page := n.get(t, "/?"+q)
	for _, want := range []string{
		`<link rel="alternate" type="application/atom&#43;xml" title="Atom feed of kestrel" href="/search.atom?q=kestrel">`,
		`title="RSS feed of kestrel" href="/search.rss?q=kestrel">`,
		`title="JSON Feed of kestrel" href="/search.json?q=kestrel">`,
		`<link rel="search" type="application/opensearchdescription+xml" title="murmur" href="/opensearch.xml">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the result page lacks %s", want)
		}
	}
	resp, body = fetch(t, n.base+"/opensearch.xml", nil)
	var desc struct {
		ShortName string `xml:"ShortName"`
		URLs      []struct {
			Type     string `xml:"type,attr"`
			Template string `xml:"template,attr"`
		} `xml:"Url"`
	}
	if err := xml.Unmarshal([]byte(body), &desc); err != nil || desc.ShortName != "murmur" || len(desc.URLs) != 2 ||
		desc.URLs[0].Template != n.base+"/?q={searchTerms}" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/opensearchdescription+xml") {
		t.Fatalf("opensearch.xml: %v, %+v, %s", err, desc, resp.Header.Get("Content-Type"))
	}
}

func authorName(it *gofeed.Item) string {
	if len(it.Authors) > 0 {
		return it.Authors[0].Name
	}
	if it.Author != nil {
		return it.Author.Name
	}
	return ""
}

func fetch(t *testing.T, u string, h http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}
