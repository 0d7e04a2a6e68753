package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/query"
)

// TestCostlyQueriesAreRefused: a query that would expand to more words than
// the limit, or hold more prefix, wildcard or fuzzy terms than it, is
// refused with an error that names the limit, in a local search and a
// network search alike; one within the limits runs.
func TestCostlyQueriesAreRefused(t *testing.T) {
	r := start(t, t.TempDir())
	var lines bytes.Buffer
	enc := json.NewEncoder(&lines)
	for i := range index.MaxExpansion + 200 {
		enc.Encode(api.ImportLine{Text: fmt.Sprintf("zq%05d is one of many words", i), CreatedAt: "2024-05-01T00:00:00Z"})
	}
	c := api.NewClient(strings.TrimPrefix(r.base, "http://"))
	res, err := c.Import(context.Background(), &lines)
	if err != nil || res.Accepted != index.MaxExpansion+200 {
		t.Fatalf("import: %+v, %v", res, err)
	}
	fuzzy := strings.Repeat("word~ ", query.MaxExpanding+1)
	for _, scope := range []string{"local", "network"} {
		for _, tc := range []struct{ q, want string }{
			{"zq*", fmt.Sprint(index.MaxExpansion)},
			{fuzzy, fmt.Sprintf("more than %d prefix, wildcard or fuzzy", query.MaxExpanding)},
			{strings.Repeat("zq00001~ ", 60), fmt.Sprintf("more than %d prefix, wildcard or fuzzy", query.MaxExpanding)},
		} {
			start := time.Now()
			code, msg := r.call(t, "GET", "/api/v1/search?"+url.Values{"q": {tc.q}, "scope": {scope}}.Encode(), nil, nil)
			if code != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
				t.Errorf("%s search %.40q: %d %s; want 400 naming the limit (%q)", scope, tc.q, code, msg, tc.want)
			}
			t.Logf("%s search %.30q refused in %v", scope, tc.q, time.Since(start).Round(time.Millisecond))
		}
		within := r.search(t, url.Values{"q": {"zq001*"}, "scope": {scope}})
		if within.Total != 100 {
			t.Errorf("%s search zq001*: %d matches, want 100", scope, within.Total)
		}
	}
}
