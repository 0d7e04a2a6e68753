package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/node"
	"github.com/murmur-p2p/murmur/post"
)

// running is a node started by a test, reached over HTTP only.
type running struct {
	base string
	stop func()
}

// runNode runs n until the returned stop is called or the test ends, and
// checks that Run returned cleanly; stop may be called more than once.
func runNode(t *testing.T, n *node.Node) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node stopped with error: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func start(t *testing.T, dir string) *running {
	t.Helper()
	n, err := node.New(node.Config{DataDir: dir, APIAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	r := &running{base: "http://" + n.APIAddr(), stop: runNode(t, n)}
	waitReady(t, r.base)
	return r
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("node at %s never became ready", base)
}

// call sends a request and decodes a JSON answer into out (if not nil).
func (r *running) call(t *testing.T, method, path string, body []byte, out any) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, r.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode, string(data)
}

func (r *running) post(t *testing.T, text, lang string) string {
	t.Helper()
	body, _ := json.Marshal(api.PostRequest{Text: text, Lang: lang})
	var p struct{ ID string }
	if code, msg := r.call(t, "POST", "/api/v1/posts", body, &p); code != http.StatusCreated {
		t.Fatalf("post %q: %d %s", text, code, msg)
	}
	return p.ID
}

func (r *running) search(t *testing.T, params url.Values) api.SearchResponse {
	t.Helper()
	var res api.SearchResponse
	if code, msg := r.call(t, "GET", "/api/v1/search?"+params.Encode(), nil, &res); code != http.StatusOK {
		t.Fatalf("search %v: %d %s", params, code, msg)
	}
	return res
}

// ids returns the sorted IDs of every match of q, walking all pages.
func (r *running) ids(t *testing.T, q string) []string {
	t.Helper()
	var out []string
	params := url.Values{"q": {q}, "limit": {"1000"}}
	for {
		res := r.search(t, params)
		for _, h := range res.Hits {
			out = append(out, h.ID)
		}
		if res.NextCursor == "" {
			break
		}
		params.Set("cursor", res.NextCursor)
	}
	slices.Sort(out)
	return out
}

func (r *running) postCount(t *testing.T) uint64 {
	t.Helper()
	var s api.Status
	if code, msg := r.call(t, "GET", "/api/v1/status", nil, &s); code != http.StatusOK {
		t.Fatalf("status: %d %s", code, msg)
	}
	return s.Posts
}

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// TestNodeEndToEnd drives one real node over HTTP: post, search with every
// operator, page, refuse bad input without changing anything, delete, and
// keep everything across a restart.
func TestNodeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	n := start(t, dir)

	golang := n.post(t, "Learning #golang with @alice today", "en")
	fox := n.post(t, "the quick brown fox jumps over the lazy dog", "en")
	lazy := n.post(t, "quick thinking beats a lazy plan, see https://www.example.org/plan", "en")
	fuchs := n.post(t, "Der schnelle braune Fuchs springt über den faulen Hund", "de")

	// Posts with chosen dates come in through the import.
	var imp strings.Builder
	for i, day := range []string{"2024-01-10", "2024-02-10", "2024-03-10"} {
		fmt.Fprintf(&imp, `{"text":"dated post number %d about tides","created_at":"%sT12:00:00Z","lang":"en","author":"Tide Watcher"}`+"\n", i, day)
	}
	var ir api.ImportResult
	if code, msg := n.call(t, "POST", "/api/v1/import", []byte(imp.String()), &ir); code != 200 || ir.Accepted != 3 || ir.Rejected != 0 {
		t.Fatalf("import: %d %s %+v", code, msg, ir)
	}
	tides := n.ids(t, "tides")
	if len(tides) != 3 {
		t.Fatalf("tides: %d hits", len(tides))
	}

	// The dated posts' IDs by day, read back through GET.
	byDate := map[string]string{}
	for _, id := range tides {
		var p struct {
			CreatedAt time.Time `json:"created_at"`
		}
		if code, msg := n.call(t, "GET", "/api/v1/posts/"+id, nil, &p); code != 200 {
			t.Fatalf("get %s: %d %s", id, code, msg)
		}
		byDate[p.CreatedAt.Format(time.DateOnly)] = id
	}

	cases := []struct {
		q    string
		want []string
	}{
		{"quick", sorted(fox, lazy)},
		{"QUICK lazy", sorted(fox, lazy)},
		{`"lazy dog"`, sorted(fox)},
		{`"dog lazy"`, nil},
		{"#golang", sorted(golang)},
		{"golang", sorted(golang)},
		{"@alice", sorted(golang)},
		{"example.org", sorted(lazy)},
		{"quick -fox", sorted(lazy)},
		{`quick -"lazy dog"`, sorted(lazy)},
		{"quick -(fox OR plan)", nil},
		{"(fox OR fuchs) -lang:de", sorted(fox)},
		{"#golang @alice", sorted(golang)},
		{"@bob", nil},
		{"alice", sorted(golang)}, // the word finds the mention, as it finds a #tag
		{"@golang", nil},          // a mention finds only mentions
		{"fox OR fuchs", sorted(fox, fuchs)},
		{"über", sorted(fuchs)},
		{"lang:de", sorted(fuchs)},
		{"lazy lang:de", nil},
		{`from:"tide watcher"`, tides},
		{"tides since:2024-02-10", sorted(byDate["2024-02-10"], byDate["2024-03-10"])},
		{"tides until:2024-02-10", sorted(byDate["2024-01-10"])},
		{"tides since:2024-02-01 until:2024-03-01", sorted(byDate["2024-02-10"])},
		{"nothingmatchesthis", nil},
	}
	check := func(n *running) {
		t.Helper()
		for _, c := range cases {
			if got := n.ids(t, c.q); !slices.Equal(got, c.want) {
				t.Errorf("search %q = %v, want %v", c.q, got, c.want)
			}
		}
	}
	check(n)

	// Highlighting points at the matched words.
	res := n.search(t, url.Values{"q": {"#golang"}})
	if len(res.Hits) != 1 || len(res.Hits[0].Matches) == 0 {
		t.Fatalf("no highlight for #golang: %+v", res)
	}
	m := res.Hits[0].Matches[0]
	if got := res.Hits[0].Text[m[0]:m[1]]; !strings.Contains(strings.ToLower(got), "golang") {
		t.Errorf("highlight marks %q", got)
	}

	// Every hit carries its signature: a reader can check it, and a hit
	// altered on the way (text, ID or signature) fails the check.
	for _, h := range n.search(t, url.Values{"q": {"quick OR fuchs OR tides"}, "limit": {"100"}}).Hits {
		p := h.Post()
		if err := p.Verify(time.Now()); err != nil {
			t.Fatalf("hit %s does not verify: %v", h.ID, err)
		}
		text := *p
		text.Text += "!"
		id := *p
		id.ID = strings.Repeat("0", 64)
		sig := *p
		sig.Sig = append([]byte(nil), p.Sig...)
		sig.Sig[0] ^= 1
		for _, c := range []struct {
			name string
			p    *post.Post
		}{{"text", &text}, {"ID", &id}, {"signature", &sig}} {
			if err := c.p.Verify(time.Now()); !errors.Is(err, post.ErrBadID) && !errors.Is(err, post.ErrBadSignature) {
				t.Errorf("hit %s with its %s altered: Verify says %v, want a bad ID or signature", h.ID, c.name, err)
			}
		}
	}

	// Paging walks every match exactly once, in both orders.
	var many strings.Builder
	for i := range 57 {
		fmt.Fprintf(&many, `{"text":"paging test entry %d with some shared words","created_at":"2025-01-01T00:%02d:00Z"}`+"\n", i, i)
	}
	if code, msg := n.call(t, "POST", "/api/v1/import", []byte(many.String()), &ir); code != 200 || ir.Accepted != 57 {
		t.Fatalf("import: %d %s", code, msg)
	}
	for _, sort := range []string{"top", "latest"} {
		seen := map[string]bool{}
		params := url.Values{"q": {"paging"}, "limit": {"10"}, "sort": {sort}}
		var last time.Time
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatalf("sort=%s: more pages than matches", sort)
			}
			res := n.search(t, params)
			if res.Total != 57 {
				t.Fatalf("sort=%s: total %d, want 57", sort, res.Total)
			}
			if len(res.Hits) == 0 {
				t.Fatalf("sort=%s: empty page with a cursor", sort)
			}
			for _, h := range res.Hits {
				if seen[h.ID] {
					t.Fatalf("sort=%s: %s seen twice", sort, h.ID)
				}
				seen[h.ID] = true
				if sort == "latest" && !last.IsZero() && h.CreatedAt.After(last) {
					t.Fatalf("sort=latest out of order: %v after %v", h.CreatedAt, last)
				}
				last = h.CreatedAt
			}
			if res.NextCursor == "" {
				break
			}
			params.Set("cursor", res.NextCursor)
		}
		if len(seen) != 57 {
			t.Fatalf("sort=%s: paging saw %d of 57", sort, len(seen))
		}
	}

	// Bad input of every kind: a 4xx with a message, and nothing changes.
	before := n.postCount(t)
	bad := []struct {
		method, path, body string
		code               int
		says               string
	}{
		{"POST", "/api/v1/posts", `{"text":""}`, 400, "empty"},
		{"POST", "/api/v1/posts", `{"text":"   "}`, 400, "empty"},
		{"POST", "/api/v1/posts", `{"text":"` + strings.Repeat("a", 1001) + `"}`, 400, "1000"},
		{"POST", "/api/v1/posts", `{"text":"overlongmarker ` + strings.Repeat("ü", 986) + `"}`, 400, "1001"},
		{"POST", "/api/v1/posts", "{\"text\":\"bad \xff utf8\"}", 400, "UTF-8"},
		{"POST", "/api/v1/posts", `{"text":`, 400, "JSON"},
		{"POST", "/api/v1/posts", `{"text":"x","colour":"red"}`, 400, "colour"},
		{"POST", "/api/v1/posts", `{"text":"x","reply_to":"nope"}`, 400, "reply_to"},
		{"POST", "/api/v1/posts", `{"text":"x","lang":"not a language"}`, 400, "lang"},
		{"POST", "/api/v1/posts", `{"text":"` + strings.Repeat("a", 70000) + `"}`, 413, "larger"},
		{"GET", "/api/v1/search?q=%22unterminated", "", 400, "at "},
		{"GET", "/api/v1/search?q=(a", "", 400, "at "},
		{"GET", "/api/v1/search?q=quick&limit=abc", "", 400, "limit"},
		{"GET", "/api/v1/search?q=quick&limit=1001", "", 400, "limit"},
		{"GET", "/api/v1/search?q=quick&sort=best", "", 400, "sort"},
		{"GET", "/api/v1/search?q=quick&cursor=garbage", "", 400, "cursor"},
		{"GET", "/api/v1/search?q=nosuchfield:x", "", 400, "nosuchfield"},
		{"GET", "/api/v1/posts/" + strings.Repeat("0", 64), "", 404, "no such post"},
		{"GET", "/api/v1/posts/xyz", "", 400, "post ID"},
		{"DELETE", "/api/v1/posts/" + strings.Repeat("0", 64), "", 404, "no such post"},
		{"GET", "/api/v1/nothing", "", 404, "no API route"},
	}
	for _, b := range bad {
		code, msg := n.call(t, b.method, b.path, []byte(b.body), nil)
		if code != b.code || !strings.Contains(msg, b.says) || !strings.Contains(msg, `"error"`) {
			t.Errorf("%s %s %.40q: got %d %s, want %d mentioning %q", b.method, b.path, b.body, code, msg, b.code, b.says)
		}
	}
	if got := n.ids(t, "overlongmarker"); len(got) != 0 {
		t.Errorf("a refused text is searchable: %v", got)
	}
	// Exactly 1,000 characters is allowed, however many bytes they take.
	longest := n.post(t, "longestmarker "+strings.Repeat("ü", 986), "")
	if got := n.ids(t, "longestmarker"); !slices.Equal(got, []string{longest}) {
		t.Errorf("a post of 1,000 characters: search finds %v, want %s", got, longest)
	}
	if code, msg := n.call(t, "DELETE", "/api/v1/posts/"+longest, nil, nil); code != 200 {
		t.Fatalf("delete: %d %s", code, msg)
	}
	// A cursor from another query is refused.
	page := n.search(t, url.Values{"q": {"paging"}, "limit": {"5"}})
	if code, msg := n.call(t, "GET", "/api/v1/search?"+url.Values{"q": {"quick"}, "cursor": {page.NextCursor}}.Encode(), nil, nil); code != 400 {
		t.Errorf("foreign cursor: %d %s", code, msg)
	}
	// An import with bad lines keeps the good ones and says why each bad one failed.
	mixed := "{\"text\":\"good line one\"}\n\n{\"text\":\"\"}\nnot json\n{\"text\":\"bad \xff\"}\n{\"text\":\"good line two badmarker\",\"created_at\":\"yesterday\"}\n{\"text\":\"good line three\"}\n" +
		`{"text":"badmarker ` + strings.Repeat("x", 1000) + `"}` + "\n" +
		`{"text":"badmarker","lang":"not a language"}` + "\n"
	if code, msg := n.call(t, "POST", "/api/v1/import", []byte(mixed), &ir); code != 200 {
		t.Fatalf("mixed import: %d %s", code, msg)
	}
	if ir.Accepted != 2 || ir.Rejected != 6 || len(ir.Errors) != 6 {
		t.Fatalf("mixed import: %+v", ir)
	}
	for i, line := range []int{3, 4, 5, 6, 8, 9} {
		if ir.Errors[i].Line != line {
			t.Errorf("rejected line %d reported as %d (%s)", line, ir.Errors[i].Line, ir.Errors[i].Error)
		}
	}
	if got := n.ids(t, "badmarker"); len(got) != 0 {
		t.Errorf("refused import lines are searchable: %v", got)
	}
	if after := n.postCount(t); after != before+2 {
		t.Fatalf("bad input changed the store: %d posts before, %d after (2 good lines)", before, after)
	}

	// Delete one of the node's posts: gone from search and from GET.
	var ts struct{ Target string }
	if code, msg := n.call(t, "DELETE", "/api/v1/posts/"+fox, nil, &ts); code != 200 || ts.Target != fox {
		t.Fatalf("delete: %d %s", code, msg)
	}
	if code, _ := n.call(t, "GET", "/api/v1/posts/"+fox, nil, nil); code != http.StatusGone {
		t.Fatalf("deleted post: GET answered %d, want 410", code)
	}
	for i := range cases {
		cases[i].want = slices.DeleteFunc(slices.Clone(cases[i].want), func(id string) bool { return id == fox })
	}
	check(n)
	count := n.postCount(t)

	// A restart keeps every post, the deletion, and the same answers.
	n.stop()
	n = start(t, dir)
	if got := n.postCount(t); got != count {
		t.Fatalf("after restart: %d posts, want %d", got, count)
	}
	check(n)
	if code, _ := n.call(t, "GET", "/api/v1/posts/"+fox, nil, nil); code != http.StatusGone {
		t.Fatalf("deleted post came back after restart: %d", code)
	}
	for _, probe := range []string{"/livez", "/readyz", "/metrics"} {
		if code, _ := n.call(t, "GET", probe, nil, nil); code != 200 {
			t.Errorf("%s: %d", probe, code)
		}
	}
	_, metricsText := n.call(t, "GET", "/metrics", nil, nil)
	for _, name := range []string{"murmur_posts_accepted_total", "murmur_index_documents", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(metricsText, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}
