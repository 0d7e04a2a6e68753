package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/node"
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

// TestFullDiskRefusesWritesPlainly: under its free-space watermark a node
// refuses new posts, from the API and imports alike, with 507 and the
// reason, and stores nothing; searches still work.
func TestFullDiskRefusesWritesPlainly(t *testing.T) {
	n, err := node.New(node.Config{DataDir: t.TempDir(), APIAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), MinFreeBytes: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer func() { cancel(); <-done }()
	r := &running{base: "http://" + n.APIAddr()}
	waitReady(t, r.base)

	body, _ := json.Marshal(api.PostRequest{Text: "a post for a full disk"})
	if code, msg := r.call(t, "POST", "/api/v1/posts", body, nil); code != http.StatusInsufficientStorage || !strings.Contains(msg, "--min-free-disk") {
		t.Errorf("a post on a full disk: %d %s; want 507 saying how to fix it", code, msg)
	}
	_, err = api.NewClient(n.APIAddr()).Import(ctx, strings.NewReader(`{"text":"an imported post for a full disk"}`+"\n"))
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusInsufficientStorage {
		t.Errorf("an import on a full disk: %v; want 507", err)
	}
	if got := r.postCount(t); got != 0 {
		t.Errorf("the full node holds %d posts", got)
	}
	r.search(t, url.Values{"q": {"post"}})
}
