package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
)

// waitFor waits until out holds want, or fails the test after 20 s.
func waitFor(t *testing.T, out *syncBuffer, what, want string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), want); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("printed no %s (%q) in 20 s:\n%s", what, want, out.String())
		}
	}
}

// TestTimelineFollow: 'timeline --follow' prints the newest page oldest
// first, then follows /api/v1/timeline/stream from the newest post's event
// (or from its start when the timeline is empty), resumes a dropped stream
// after its last event, and ends cleanly on SIGINT.
func TestTimelineFollow(t *testing.T) {
	hit := func(id, text string, at time.Time) api.Hit {
		return api.Hit{ID: id, Author: "12D3KooWfake", Text: text, CreatedAt: at}
	}
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	older, newer := hit("p1", "older #heron", t0), hit("p2", "newer #heron", t0.Add(time.Minute))
	live1, live2 := hit("p3", "live #heron one", t0.Add(2*time.Minute)), hit("p4", "live #heron two", t0.Add(3*time.Minute))

	for _, tc := range []struct {
		name string
		page []api.Hit
		// wantFirst checks the Last-Event-ID of the first stream.
		wantFirst func(string) bool
		printed   []string // in this order
	}{
		{"after the newest post", []api.Hit{newer, older},
			func(id string) bool { return id == api.EventID(newer) },
			[]string{"2 posts (", "then new ones as they are written", "1. ", "older #heron", "2. ", "newer #heron", "3. ", "live #heron one",
				"(the stream ended: the node closed it; resuming in 2s)", "4. ", "live #heron two"}},
		{"from the start", nil,
			func(id string) bool {
				at, rest, _ := strings.Cut(id, "/")
				ts, err := time.Parse(time.RFC3339Nano, at)
				return err == nil && rest == "-" && time.Since(ts) < time.Minute && time.Since(ts) >= 0
			},
			[]string{"0 posts (", "1. ", "live #heron one", "2. ", "live #heron two"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var requests, lastIDs []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				requests = append(requests, r.Method+" "+r.URL.RequestURI())
				n := len(lastIDs)
				if r.URL.Path == "/api/v1/timeline/stream" {
					lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
				}
				mu.Unlock()
				switch r.URL.Path {
				case "/api/v1/timeline":
					json.NewEncoder(w).Encode(api.SearchResponse{Hits: tc.page, Total: uint64(len(tc.page))})
				case "/api/v1/timeline/stream":
					w.Header().Set("Content-Type", "text/event-stream")
					h := []api.Hit{live1, live2}[min(n, 1)]
					data, _ := json.Marshal(h)
					fmt.Fprintf(w, ": heartbeat\n\nid: %s\nevent: post\ndata: %s\n\n", api.EventID(h), data)
					w.(http.Flusher).Flush()
					if n > 0 {
						<-r.Context().Done() // the second stream stays open
					} // the first ends: the node dropped it
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()

			var out syncBuffer
			cmd := murmurCmd(context.Background(), "timeline", "--follow", "--limit", "2", "--api", srv.Listener.Addr().String())
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			waitFor(t, &out, "live post after the resume", "live #heron two")
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("timeline --follow after SIGINT: %v\n%s", err, out.String())
			}
			s := out.String()
			at := 0
			for _, want := range tc.printed {
				i := strings.Index(s[at:], want)
				if i < 0 {
					t.Fatalf("timeline --follow: no %q after offset %d in:\n%s", want, at, s)
				}
				at += i + len(want)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(requests) < 3 || requests[0] != "GET /api/v1/timeline?limit=2" || requests[1] != "GET /api/v1/timeline/stream" {
				t.Errorf("requests %q; want the page (limit=2), then the stream", requests)
			}
			if len(lastIDs) != 2 || !tc.wantFirst(lastIDs[0]) || lastIDs[1] != api.EventID(live1) {
				t.Errorf("streams asked after %q; want the start, then the resume after %q", lastIDs, api.EventID(live1))
			}
		})
	}
}

// TestFollowsAndTimelineOnANode: follow, follows, timeline and unfollow
// against a real node, for a search and for the node's own author, and
// 'timeline --follow' printing a post written after it started.
func TestFollowsAndTimelineOnANode(t *testing.T) {
	_, addr := startNodeProcess(t, t.TempDir())
	cli := func(args ...string) (string, int) {
		t.Helper()
		cmd := murmurCmd(context.Background(), append([]string{args[0], "--api", addr}, args[1:]...)...)
		out, err := cmd.CombinedOutput()
		if err != nil && cmd.ProcessState == nil {
			t.Fatalf("murmur %q: %v", args, err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	must := func(args ...string) string {
		t.Helper()
		out, code := cli(args...)
		if code != 0 {
			t.Fatalf("murmur %q: exit %d\n%s", args, code, out)
		}
		return out
	}
	// timeline checks the posts 'murmur timeline' prints: their count,
	// and their texts in order (newest first).
	timeline := func(want ...string) {
		t.Helper()
		out := must("timeline")
		if !strings.HasPrefix(out, fmt.Sprintf("%d posts (", len(want))) {
			t.Fatalf("timeline: want %d posts:\n%s", len(want), out)
		}
		texts := regexp.MustCompile(`(?m)^   (\S.*)$`).FindAllStringSubmatch(out, -1)
		var got []string
		for _, m := range texts {
			if !strings.HasPrefix(m[1], "id ") {
				got = append(got, strings.ReplaceAll(m[1], "*", ""))
			}
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("timeline: posts %q, want %q:\n%s", got, want, out)
		}
	}

	must("post", "#heron note 1")
	time.Sleep(5 * time.Millisecond) // distinct creation times, for the order
	must("post", "#heron note 2")
	time.Sleep(5 * time.Millisecond)
	must("post", "a sparrow, no heron")
	timeline() // nothing followed

	if out := must("follow", "--search", "#heron"); out != "authors:\n  (none)\nsearches:\n  #heron\n" {
		t.Fatalf("follow --search: %q", out)
	}
	if out := must("follows"); out != "authors:\n  (none)\nsearches:\n  #heron\n" {
		t.Fatalf("follows: %q", out)
	}
	var f api.Follows
	if out := must("follows", "--json"); json.Unmarshal([]byte(out), &f) != nil || len(f.Searches) != 1 || f.Searches[0] != "#heron" || len(f.Authors) != 0 {
		t.Fatalf("follows --json: %q", out)
	}
	timeline("#heron note 2", "#heron note 1")

	// The node's own author: every post it wrote.
	var st api.Status
	if out := must("status"); json.Unmarshal([]byte(out), &st) != nil || st.PeerID == "" {
		t.Fatalf("status: no peer_id:\n%s", out)
	}
	if out := must("follow", "--author", st.PeerID); out != "authors:\n  "+st.PeerID+"\nsearches:\n  #heron\n" {
		t.Fatalf("follow --author: %q", out)
	}
	timeline("a sparrow, no heron", "#heron note 2", "#heron note 1")
	if out := must("unfollow", "--author", st.PeerID); out != "authors:\n  (none)\nsearches:\n  #heron\n" {
		t.Fatalf("unfollow --author: %q", out)
	}
	timeline("#heron note 2", "#heron note 1")

	if out := must("unfollow", "--search", "#heron"); out != "authors:\n  (none)\nsearches:\n  (none)\n" {
		t.Fatalf("unfollow --search: %q", out)
	}
	timeline()
	if out, code := cli("unfollow", "--search", "#heron"); code != 1 || !strings.Contains(out, `murmur unfollow: not followed: search "#heron"`) {
		t.Fatalf("unfollow of what is not followed: exit %d, want 1 and 'not followed':\n%s", code, out)
	}
	if out, code := cli("follow", "--search", "-heron"); code != 1 || !strings.Contains(out, "400") {
		t.Fatalf("follow of a search no key routes: exit %d, want 1 and the node's 400:\n%s", code, out)
	}

	// Live.
	must("follow", "--search", "#heron")
	var out syncBuffer
	cmd := murmurCmd(context.Background(), "timeline", "--follow", "--api", addr)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, &out, "current post", "note 2\n")
	waitFor(t, &out, "note that it follows", "then new ones as they are written")
	// Written before or after the stream subscribed: the resume after the
	// newest current post covers the gap.
	must("post", "another sparrow, not followed")
	must("post", "#heron note 3, written live")
	waitFor(t, &out, "live post", "3. ")
	waitFor(t, &out, "live post", "note 3, written live")
	if strings.Contains(out.String(), "sparrow") {
		t.Errorf("timeline --follow printed a post it does not follow:\n%s", out.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("timeline --follow after SIGINT: %v\n%s", err, out.String())
	}
}
