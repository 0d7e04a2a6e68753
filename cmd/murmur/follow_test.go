package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestSearchFollow: 'search --follow' hands the API base URL and the query
// to followSearch with the command's context, and its end by that context
// (SIGINT, SIGTERM) is a clean exit.
func TestSearchFollow(t *testing.T) {
	orig := followSearch
	t.Cleanup(func() { followSearch = orig })
	type call struct{ base, q string }
	calls := make(chan call, 1)
	followSearch = func(ctx context.Context, base string, q string, _ io.Writer) error {
		calls <- call{base, q}
		<-ctx.Done()
		return ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"search", "cats", "-dogs", "--follow", "--api", "127.0.0.1:9"}, &stderr)
	}()
	select {
	case c := <-calls:
		if c.base != "http://127.0.0.1:9" || c.q != "cats -dogs" {
			t.Errorf("followSearch(%q, %q), want (http://127.0.0.1:9, cats -dogs)", c.base, c.q)
		}
	case code := <-done:
		t.Fatalf("search --follow exited (%d) without following: %s", code, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("followSearch never called")
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 || stderr.Len() != 0 {
			t.Errorf("interrupted search --follow: exit %d, %q; want 0 and no error", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("search --follow did not end with its context")
	}

	// Any other end is an error.
	followSearch = orig
	stderr.Reset()
	if code := run(context.Background(), []string{"search", "--follow", "x"}, &stderr); code != 1 || !strings.Contains(stderr.String(), "murmur search: ") {
		t.Errorf("failed search --follow: exit %d, %q", code, stderr.String())
	}
}
