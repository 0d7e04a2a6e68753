package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/crawl/crawltest"
)

// TestCrawlCLI runs `murmur node --crawl --crawl-allow-private` and the crawl
// subcommands in child processes against a feed on 127.0.0.1.
func TestCrawlCLI(t *testing.T) {
	es := crawltest.Fortunes(t, "en", 200, 3)
	srv := crawltest.NewServer(t)
	srv.Set("/feed", crawltest.Doc{ContentType: "application/rss+xml", Body: crawltest.RSS("cli", "en", es), ETag: `"v1"`})
	feed := srv.URL + "/feed"

	_, addr := startNodeProcess(t, t.TempDir(), "--crawl", "--crawl-allow-private")
	run := func(wantOK bool, args ...string) string {
		t.Helper()
		cmd := murmurCmd(context.Background(), append([]string{"crawl", "--api", addr}, args...)...)
		outb, err := cmd.CombinedOutput()
		if (err == nil) != wantOK {
			t.Fatalf("murmur crawl %v: %v\n%s", args, err, outb)
		}
		return string(outb)
	}

	deadline := time.Now().Add(20 * time.Second)

	if out := run(true, "add", feed); !strings.Contains(out, "added "+feed) {
		t.Fatalf("add: %s", out)
	}
	// The scheduler fetches it at once; wait for that, then run it by hand.
	for {
		out := run(true, "list")
		if strings.Contains(out, "items seen 3") {
			if !strings.Contains(out, "status ok") || !strings.Contains(out, "next run in") {
				t.Fatalf("list: %s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("source never fetched: %s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out := run(true, "run", feed); !strings.Contains(out, "not_modified") || !strings.Contains(out, "0 new") {
		t.Fatalf("run: %s", out)
	}
	if out := run(false, "run", srv.URL+"/unknown"); !strings.Contains(out, "no such source") {
		t.Fatalf("run of an unlisted URL: %s", out)
	}
	if out := run(true, "remove", feed); !strings.Contains(out, "removed") {
		t.Fatalf("remove: %s", out)
	}
	if out := run(true, "list"); !strings.Contains(out, "no sources") {
		t.Fatalf("list after remove: %s", out)
	}
	if out := run(false, "frobnicate"); !strings.Contains(out, "unknown subcommand") {
		t.Fatalf("bad subcommand: %s", out)
	}
}
