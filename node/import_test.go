package node_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/node"
)

// TestImportTwiceThroughAPI: with undated_time, an import's undated lines
// get the same post IDs on every run, and the node counts them as already
// stored instead of storing them again; a line repeated in one body is one
// post. Without it they get the time they are read.
func TestImportTwiceThroughAPI(t *testing.T) {
	n := startWith(t, node.Config{APIAddr: "127.0.0.1:0"})
	base := "http://" + n.APIAddr()
	body := `{"text":"first undated"}` + "\n" + `{"text":"second undated","lang":"en"}` + "\n" +
		`{"text":"dated","created_at":"2023-01-02"}` + "\n" + `{"text":"first undated"}` + "\n"
	when := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	u := base + "/api/v1/import?" + url.Values{"undated_time": {when.Format(time.RFC3339)}}.Encode()
	ndjson := http.Header{"Content-Type": {"application/x-ndjson"}}
	var first, second api.ImportResult
	for _, r := range []*api.ImportResult{&first, &second} {
		code, out, _ := request(t, "POST", u, "", ndjson, body)
		if code != 200 || json.Unmarshal([]byte(out), r) != nil {
			t.Fatalf("import: %d %s", code, out)
		}
	}
	if first.Accepted != 3 || first.AlreadyStored != 1 || second.Accepted != 0 || second.AlreadyStored != 4 {
		t.Fatalf("first run %+v, second %+v; want 3 accepted and 1 repeated, then 4 already stored", first, second)
	}
	if got := postCount(t, base); got != 3 {
		t.Fatalf("%d posts, want 3", got)
	}
	res := search(t, base, "undated")
	for _, h := range res.Hits {
		if !h.CreatedAt.Equal(when) {
			t.Errorf("undated line %q got %v, want the import's undated_time %v", h.Text, h.CreatedAt, when)
		}
	}
	if code, out, _ := request(t, "POST", base+"/api/v1/import?undated_time=yesterday", "", ndjson, body); code != 400 || !strings.Contains(out, "RFC 3339") {
		t.Fatalf("undated_time=yesterday: %d %s, want 400 naming RFC 3339", code, out)
	}
}

func search(t *testing.T, base, q string) api.SearchResponse {
	t.Helper()
	code, out, _ := request(t, "GET", base+"/api/v1/search?"+url.Values{"q": {q}, "scope": {"local"}}.Encode(), "", nil, "")
	var res api.SearchResponse
	if code != 200 || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("search %q: %d %s", q, code, out)
	}
	return res
}
