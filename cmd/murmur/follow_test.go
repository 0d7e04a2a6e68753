package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
)

// TestSearchFollow: 'search --follow' hands the API base URL and the query
// to followSearch with the command's context, and its end by that context
// (SIGINT, SIGTERM) is a clean exit.
func TestSearchFollow(t *testing.T) {
	orig := followSearch
	t.Cleanup(func() { followSearch = orig })
	type call struct{ base, q string }
	calls := make(chan call, 1)
	followSearch = func(ctx context.Context, c *api.Client, q string, _ io.Writer) error {
		calls <- call{c.Base, q}
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

// syncBuffer is a bytes.Buffer a process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSearchFollowOnANode: 'murmur search --follow' against a real node
// prints the current matches, then a match written after it started and
// not a post that does not match, and ends cleanly on SIGINT.
func TestSearchFollowOnANode(t *testing.T) {
	_, addr := startNodeProcess(t, t.TempDir())
	post := func(text string) {
		t.Helper()
		if out, err := murmurCmd(context.Background(), "post", "--api", addr, text).CombinedOutput(); err != nil {
			t.Fatalf("post %q: %v %s", text, err, out)
		}
	}
	post("an older note about the #heron")
	var out syncBuffer
	cmd := murmurCmd(context.Background(), "search", "#heron", "--follow", "--api", addr)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitOutput := func(what, want string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), want); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("search --follow printed no %s in 20 s:\n%s", what, out.String())
			}
		}
	}
	waitOutput("current match", "older note about the *#heron*")
	waitOutput("note that it follows", "then new ones as they are written")
	// Written before or after the stream subscribed: the resume after the
	// newest current match covers the gap.
	post("a sparrow, not the bird it follows")
	post("a new note about the #heron, written live")
	waitOutput("live match", "a new note about the #heron, written live")
	if strings.Contains(out.String(), "sparrow") {
		t.Errorf("search --follow printed a post that does not match:\n%s", out.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("search --follow after SIGINT: %v\n%s", err, out.String())
	}
}
