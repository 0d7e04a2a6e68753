package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/testnet"
)

// testNode is a real node started by a test, reached over HTTP only.
type testNode struct {
	base string
	id   string
	net  *testnet.Net
	i    int // the node's index in net.Nodes
}

// startNodes starts a network of n real nodes on 127.0.0.1 (testnet, with
// the network's defaults: R=3, W=2), each with its own data directory and
// API port, and waits until every routing table holds every other node. The
// tests post on one node's page and search from another's only through this
// slice.
func startNodes(t *testing.T, n int) []*testNode {
	t.Helper()
	net := testnet.Start(t, n, testnet.Options{})
	var out []*testNode
	for _, nd := range net.Nodes {
		tn := &testNode{base: "http://" + nd.APIAddr(), id: nd.ID().String(), net: net, i: nd.Index}
		poll.Until(t, "node ready", 10*time.Second, 20*time.Millisecond, func() bool {
			resp, err := http.Get(tn.base + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
		out = append(out, tn)
	}
	return out
}

// kill stops the node at once, as a crash would.
func (n *testNode) kill(t *testing.T) {
	t.Helper()
	n.net.Kill(n.i)
}

// restart starts a killed node again on its data directory, on a new API
// port, and waits until the network's routing tables hold it again.
func (n *testNode) restart(t *testing.T) {
	t.Helper()
	nd := n.net.Restart(n.i)
	n.base = "http://" + nd.APIAddr()
	n.net.WaitRouting(30 * time.Second)
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// get fetches a page as a browser with JavaScript off would.
func (n *testNode) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := noRedirect.Get(n.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// postForm submits the composer's form as a browser without JavaScript does:
// form encoding, CRLF line breaks, same-origin headers.
func (n *testNode) postForm(t *testing.T, form url.Values, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", n.base+"/post", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", n.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("POST /post: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// publish posts text through the form and returns the new post's ID.
func (n *testNode) publish(t *testing.T, text, replyTo string) string {
	t.Helper()
	resp := n.postForm(t, url.Values{"text": {text}, "reply_to": {replyTo}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("post %q: %d, want 303: %s", text, resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	id, ok := strings.CutPrefix(loc, "/p/")
	if !ok || !post.ValidID(id) {
		t.Fatalf("post %q: redirect to %q, want /p/<id>", text, loc)
	}
	return id
}

// importPosts stores posts with given times and labels through the API.
func (n *testNode) importPosts(t *testing.T, lines []api.ImportLine) {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		data, _ := json.Marshal(l)
		b.Write(data)
		b.WriteByte('\n')
	}
	resp, err := http.Post(n.base+"/api/v1/import", "application/x-ndjson", strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	defer resp.Body.Close()
	var res api.ImportResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || res.Accepted != len(lines) {
		t.Fatalf("import: %d accepted of %d (%v): %+v", res.Accepted, len(lines), err, res)
	}
}

var (
	articleID = regexp.MustCompile(`<article class="post" id="p-([0-9a-f]{64})"`)
	moreLink  = regexp.MustCompile(`<a id="more" class="button" href="([^"]+)"`)
	// rawTimestamp matches a metrics table row showing a moment as a count
	// of seconds.
	rawTimestamp = regexp.MustCompile(`_timestamp_seconds</code></td><td>[^<]*</td><td>[0-9.e+]+</td>`)
)

// articles returns the IDs of the posts a page shows, in order.
func articles(body string) []string {
	var ids []string
	for _, m := range articleID.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// more returns the "more results" URL of a page, or "".
func more(body string) string {
	m := moreLink.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

// TestPagesWithoutJavaScript walks every page as a browser with JavaScript
// off: search, paging, sort, the composer's form, a post's page with its
// replies, an author's page, the node page and the static files.
func TestPagesWithoutJavaScript(t *testing.T) {
	nodes := startNodes(t, 1)
	n := nodes[0]

	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var lines []api.ImportLine
	for i := range 25 {
		lines = append(lines, api.ImportLine{
			Text:      fmt.Sprintf("the river number %d runs to the sea", i),
			CreatedAt: base.Add(time.Duration(i) * time.Hour).Format(time.RFC3339),
			Lang:      "en",
			Author:    "Ada",
		})
	}
	n.importPosts(t, lines)

	code, body := n.get(t, "/")
	if code != http.StatusOK || !strings.Contains(body, `<form id="search"`) || !strings.Contains(body, `action="/post"`) {
		t.Fatalf("home: %d, want the search form and the composer:\n%s", code, body)
	}

	// Top: the first page, then "more" until the end; each post once.
	code, body = n.get(t, "/?q=river&sort=top")
	if code != http.StatusOK {
		t.Fatalf("search: %d\n%s", code, body)
	}
	if !strings.Contains(body, "25 posts match") || !strings.Contains(body, "<mark>river</mark>") {
		t.Errorf("search page lacks the total or the highlight:\n%s", body)
	}
	seen := map[string]bool{}
	pages := 0
	for path := "/?q=river&sort=top"; path != ""; pages++ {
		code, body = n.get(t, path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, code)
		}
		for _, id := range articles(body) {
			if seen[id] {
				t.Errorf("post %s shown twice", id)
			}
			seen[id] = true
		}
		path = more(body)
	}
	if len(seen) != 25 || pages != 2 {
		t.Errorf("walked %d pages showing %d posts, want 2 pages and 25 posts", pages, len(seen))
	}

	// Latest: newest first.
	_, body = n.get(t, "/?q=river&sort=latest")
	if !strings.Contains(body, "number 24 runs") || strings.Index(body, "number 24 runs") > strings.Index(body, "number 23 runs") {
		t.Errorf("latest does not put the newest post first:\n%s", body)
	}
	if !strings.Contains(body, `value="latest" checked`) {
		t.Errorf("latest is not shown as chosen")
	}

	// The composer: a post, then a reply to it, both through the form.
	id := n.publish(t, "a new post about the estuary\r\nsecond line #delta", "")
	code, body = n.get(t, "/p/"+id)
	if code != http.StatusOK || !strings.Contains(body, "a new post about the estuary\nsecond line") || !strings.Contains(body, "✓ Valid") {
		t.Fatalf("post page: %d, want the text (CRLF as LF) and a valid signature:\n%s", code, body)
	}
	if !strings.Contains(body, `<a href="/?q=%23delta">#delta</a>`) {
		t.Errorf("the hashtag is not a link to its search:\n%s", body)
	}
	reply := n.publish(t, "a reply about the estuary", id)
	_, body = n.get(t, "/p/"+id)
	if !strings.Contains(body, `id="p-`+reply+`"`) {
		t.Errorf("the post page does not list its reply %s:\n%s", reply, body)
	}
	_, body = n.get(t, "/p/"+reply)
	if !strings.Contains(body, "In reply to") || !strings.Contains(body, `id="p-`+id+`"`) {
		t.Errorf("the reply's page does not show its parent:\n%s", body)
	}

	// The author's page: the node signed every post here (imports too),
	// newest first, a page at a time.
	code, body = n.get(t, "/a/"+n.id)
	if ids := articles(body); code != http.StatusOK || len(ids) != 20 || ids[0] != reply || ids[1] != id {
		t.Errorf("author page: %d, %d posts starting %.2v, want 20 starting [%s %s]", code, len(ids), ids, reply, id)
	}
	if m := more(body); !strings.HasPrefix(m, "/a/"+n.id+"?") {
		t.Errorf("author page: more link %q", m)
	} else if _, body = n.get(t, m); len(articles(body)) != 7 {
		t.Errorf("author page 2: %d posts, want 7", len(articles(body)))
	}

	// The node page.
	code, body = n.get(t, "/node")
	for _, want := range []string{n.id, "connected peers", "posts held", "Recent activity", "murmur_posts_accepted_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("node page (%d) lacks %q", code, want)
		}
	}
	if !strings.Contains(body, `<span class="n" id="posts">27</span>`) {
		t.Errorf("node page does not count 27 posts held")
	}
	// Replication health: the keys short of their copies and the repair
	// passes, with moments as times rather than seconds since 1970.
	if i, j := strings.Index(body, `id="repl-title"`), strings.Index(body, `id="crawl-title"`); i < 0 || j < i {
		t.Errorf("node page lacks the replication section")
	} else {
		repl := body[i:j]
		for _, want := range []string{"murmur_keys_under_replicated", "murmur_repair_passes_total", "murmur_placement_short_total"} {
			if !strings.Contains(repl, want) {
				t.Errorf("the replication section lacks %s:\n%s", want, repl)
			}
		}
		if m := rawTimestamp.FindString(repl); m != "" {
			t.Errorf("the replication section shows a moment as seconds: %s", m)
		}
	}

	// Static files and headers.
	for path, ctype := range map[string]string{"/static/style.css": "text/css", "/static/app.js": "text/javascript"} {
		resp, err := http.Get(n.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	resp, err := http.Get(n.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("the page has no content security policy: %q", csp)
	}
	// The API keeps its own paths.
	if code, _ := n.get(t, "/api/v1/status"); code != http.StatusOK {
		t.Errorf("GET /api/v1/status: %d after the page took /", code)
	}
}

// TestHostileTextIsEscaped checks that a post's text and label reach the page
// as text, never as markup.
func TestHostileTextIsEscaped(t *testing.T) {
	n := startNodes(t, 1)[0]
	hostile := `<script>alert("boom")</script> <img src=x onerror=alert(1)> "quoted" & hostile https://example.org/"onmouseover=alert(1)`
	id := n.publish(t, hostile, "")
	n.importPosts(t, []api.ImportLine{{Text: "hostile label post", Author: `<b onclick=x>Eve</b>`}})

	for _, path := range []string{"/p/" + id, "/?q=hostile", "/a/" + n.id} {
		code, body := n.get(t, path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, code)
		}
		for _, bad := range []string{`<script>alert`, `<img src=x`, `"onmouseover=`, `<b onclick`} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s: the page contains %q unescaped", path, bad)
			}
		}
		if path != "/a/"+n.id && !strings.Contains(body, `&lt;script&gt;alert(&#34;boom&#34;)&lt;/script&gt;`) {
			t.Errorf("GET %s: the script tag is not shown as text", path)
		}
	}
	if _, body := n.get(t, "/?q=label"); !strings.Contains(body, "&lt;b onclick=x&gt;Eve&lt;/b&gt;") {
		t.Errorf("the hostile label is not shown as text")
	}
}

// TestComposerErrors checks that a refused post comes back with the reason
// next to the box and the text kept, with and without JavaScript.
func TestComposerErrors(t *testing.T) {
	n := startNodes(t, 1)[0]
	long := strings.Repeat("é", post.MaxTextChars+1)
	for _, tc := range []struct {
		name, text, lang, want string
	}{
		{"empty", "   ", "", "text is empty"},
		{"too long", long, "", "longer than 1000 characters"},
		{"bad language", "hello", "not a tag", "not a language tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := n.postForm(t, url.Values{"text": {tc.text}, "lang": {tc.lang}}, nil)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			page := string(body)
			if !strings.Contains(page, tc.want) || !strings.Contains(page, `aria-invalid="true"`) {
				t.Errorf("the form page lacks the error %q next to the box:\n%s", tc.want, page)
			}
			if strings.TrimSpace(tc.text) != "" && !strings.Contains(page, tc.text) {
				t.Errorf("the typed text is lost")
			}
			// The script's request gets the reason alone.
			resp = n.postForm(t, url.Values{"text": {tc.text}, "lang": {tc.lang}}, http.Header{"X-Murmur-Fragment": {"1"}})
			body, _ = io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.want) || strings.Contains(string(body), "<html") {
				t.Errorf("fragment: %d %q, want 400 with the reason only", resp.StatusCode, body)
			}
		})
	}

	// A post from the script comes back as the post itself.
	resp := n.postForm(t, url.Values{"text": {"posted in place"}}, http.Header{"X-Murmur-Fragment": {"1"}})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(body), `<article class="post"`) || !strings.Contains(string(body), "posted in place") {
		t.Errorf("fragment post: %d %s", resp.StatusCode, body)
	}

	// Another site cannot make the node post.
	resp = n.postForm(t, url.Values{"text": {"forged"}}, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site form post: %d, want 403", resp.StatusCode)
	}
	if _, body := n.get(t, "/?q=forged"); len(articles(body)) != 0 {
		t.Errorf("the forged post was stored")
	}
}

// TestPageErrors checks the answers to bad queries and unknown posts.
func TestPageErrors(t *testing.T) {
	n := startNodes(t, 1)[0]
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/?q=" + url.QueryEscape(`"unclosed`), http.StatusBadRequest, "The query has a mistake"},
		{"/?q=" + url.QueryEscape("nope:x"), http.StatusBadRequest, "unknown field"},
		{"/?q=" + url.QueryEscape(strings.Repeat("a", 1001)), http.StatusBadRequest, "longer than"},
		{"/p/" + strings.Repeat("ab", 32), http.StatusNotFound, "no such post"},
		{"/p/nothex", http.StatusBadRequest, "is not a post ID"},
		{"/a/" + url.PathEscape("a b"), http.StatusBadRequest, "is not an author ID"},
		{"/?q=zebra", http.StatusOK, "No posts match"},
	} {
		code, body := n.get(t, tc.path)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d, want %d with %q:\n%s", tc.path, code, tc.code, tc.want, body)
		}
		if !strings.Contains(body, "</html>") {
			t.Errorf("GET %s: not a whole page", tc.path)
		}
	}
	// The script's search gets the results section alone, errors included.
	code, body := n.get(t, "/?q="+url.QueryEscape(`"unclosed`)+"&fragment=1")
	if code != http.StatusBadRequest || !strings.HasPrefix(body, `<section id="results"`) {
		t.Errorf("fragment of a bad query: %d %q", code, body)
	}
}
