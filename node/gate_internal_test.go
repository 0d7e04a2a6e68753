package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/query"
)

// TestSearchesAreSharedAmongCallers: one caller holding all its places gets
// a clear 503 with Retry-After from the API; another caller still
// searches; once every place in all is taken, everyone waits and then is
// refused.
func TestSearchesAreSharedAmongCallers(t *testing.T) {
	n, err := New(Config{DataDir: t.TempDir(), APIAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var held []func()
	defer func() {
		for _, release := range held {
			release()
		}
	}()
	// Loopback holds all its places, as a flood of searches from this
	// machine would.
	for range MaxSearchesPerCaller {
		release, err := n.admission.Enter(ctx, "127.0.0.1", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, release)
	}
	resp, err := http.Get("http://" + n.APIAddr() + "/api/v1/search?q=heron")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a caller over its share: %d %s (Retry-After %q); want 503 with Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if _, err := n.Search(query.WithCaller(ctx, "192.0.2.7"), query.Request{Q: "heron", Scope: query.ScopeLocal}); err != nil {
		t.Fatalf("another caller: %v", err)
	}
	for i := range MaxSearches - MaxSearchesPerCaller {
		release, err := n.admission.Enter(ctx, "192.0.2."+string(rune('a'+i%26))+string(rune('a'+i/26)), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, release)
	}
	var busy *query.BusyError
	if _, err := n.Search(query.WithCaller(ctx, "198.51.100.1"), query.Request{Q: "heron", Scope: query.ScopeLocal}); !errors.As(err, &busy) {
		t.Fatalf("a search with every place taken: %v, want a BusyError", err)
	}
}
