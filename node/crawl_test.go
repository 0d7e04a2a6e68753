package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/crawl"
	"github.com/murmur-p2p/murmur/crawl/crawltest"
	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/node"
)

// crawlNode starts a crawling node on dir, allowed to fetch 127.0.0.1 where
// the test servers live; stop stops it and checks that Run returned cleanly.
func crawlNode(t *testing.T, dir string, crawlOn bool) (c *api.Client, id string, stop func()) {
	t.Helper()
	n, err := node.New(node.Config{DataDir: dir, APIAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), Crawl: crawlOn, CrawlAllowPrivate: true})
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	stop = runNode(t, n)
	c = api.NewClient(n.APIAddr())
	poll.Until(t, "node ready", 20*time.Second, 10*time.Millisecond, func() bool { _, err := c.Status(context.Background()); return err == nil })
	return c, n.ID().String(), stop
}

func crawlSource(t *testing.T, c *api.Client, u string) api.CrawlSource {
	t.Helper()
	list, err := c.CrawlSources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.URL == u {
			return s
		}
	}
	t.Fatalf("%s is not listed", u)
	return api.CrawlSource{}
}

// phrase is a quoted query of the first words of text.
func phrase(text string) string {
	var words []string
	for _, w := range strings.Fields(text) {
		if w = strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) }); w != "" {
			words = append(words, w)
		}
	}
	return `"` + strings.Join(words[:min(5, len(words))], " ") + `"`
}

func crawlCount(t *testing.T, c *api.Client, q string) int {
	t.Helper()
	r, err := c.Search(context.Background(), url.Values{"q": {q}, "limit": {"1"}})
	if err != nil {
		t.Fatalf("search %s: %v", q, err)
	}
	return int(r.Total)
}

func TestCrawlFormatsThroughAPI(t *testing.T) {
	es := crawltest.Fortunes(t, "en", 100, 15)
	// One server per source: each is its own host, so the node's default
	// per-host rate limit does not slow the test.
	servers := map[string]*crawltest.Server{}
	for _, p := range []string{"/rss", "/atom", "/feed.json", "/actor", "/blog", "/broken", "/garbage"} {
		servers[p] = crawltest.NewServer(t)
	}
	srcURL := func(p string) string { return servers[p].URL + p }
	servers["/rss"].Set("/rss", crawltest.Doc{ContentType: "application/rss+xml", Body: crawltest.RSS("rss", "en", es[0:3]), ETag: `"rss-1"`})
	servers["/atom"].Set("/atom", crawltest.Doc{ContentType: "application/atom+xml", Body: crawltest.Atom("atom", "en", es[3:6]), ETag: `"atom-1"`})
	servers["/feed.json"].Set("/feed.json", crawltest.Doc{ContentType: "application/feed+json", Body: crawltest.JSONFeed("json", es[6:9]), LastModified: "Sun, 01 Jun 2025 12:00:00 GMT"})
	ap := servers["/actor"]
	ap.Set("/actor", crawltest.Doc{ContentType: "application/activity+json", Body: crawltest.Actor(ap.URL+"/actor", ap.URL+"/outbox")})
	ap.Set("/outbox", crawltest.Doc{ContentType: "application/activity+json", Body: crawltest.Outbox(ap.URL+"/outbox", ap.URL+"/outbox-page", 3), ETag: `"ob-1"`})
	ap.Set("/outbox-page", crawltest.Doc{ContentType: "application/activity+json", Body: crawltest.OutboxPage(ap.URL+"/outbox-page", "", es[9:12])})
	servers["/blog"].Set("/blog", crawltest.Doc{ContentType: "text/html", Body: crawltest.Page("/blog.atom", "application/atom+xml")})
	servers["/blog"].Set("/blog.atom", crawltest.Doc{ContentType: "application/atom+xml", Body: crawltest.Atom("blog", "en", es[12:15]), ETag: `"blog-1"`})
	servers["/broken"].Handle("/broken", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 500) })
	servers["/garbage"].Set("/garbage", crawltest.Doc{ContentType: "application/rss+xml", Body: "<rss><channel><item><title>unterminated"})

	dir := t.TempDir()
	c, id, stop := crawlNode(t, dir, true)
	ctx := context.Background()
	feeds := map[string][]crawltest.Entry{"/rss": es[0:3], "/atom": es[3:6], "/feed.json": es[6:9], "/actor": es[9:12], "/blog": es[12:15]}
	for path := range feeds {
		if _, err := c.CrawlAdd(ctx, srcURL(path)); err != nil {
			t.Fatalf("add %s: %v", path, err)
		}
	}
	for _, path := range []string{"/broken", "/garbage"} {
		if _, err := c.CrawlAdd(ctx, srcURL(path)); err != nil {
			t.Fatal(err)
		}
	}
	var apiErr *api.Error
	if _, err := c.CrawlAdd(ctx, srcURL("/rss")); !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict {
		t.Fatalf("adding twice: %v", err)
	}
	if _, err := c.CrawlAdd(ctx, "ftp://example.org/"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Fatalf("adding ftp: %v", err)
	}
	// The scheduler fetches new sources at once.
	poll.Until(t, "every source fetched", 20*time.Second, 10*time.Millisecond, func() bool {
		list, err := c.CrawlSources(ctx)
		if err != nil {
			return false
		}
		for _, s := range list {
			if s.LastFetch.IsZero() {
				return false
			}
		}
		return len(list) == 7
	})
	for path, want := range feeds {
		s := crawlSource(t, c, srcURL(path))
		if s.Status != crawl.StatusOK || s.ItemsSeen != int64(len(want)) || !s.NextRun.After(s.LastFetch) {
			t.Errorf("%s: %+v", path, s)
		}
		for _, e := range want {
			r, err := c.Search(ctx, url.Values{"q": {phrase(e.Text)}, "limit": {"10"}})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, h := range r.Hits {
				found = found || (h.Source == srcURL(path) && h.Author == id && strings.Contains(h.Text, e.Link))
			}
			if !found {
				t.Errorf("%s: no post of %q (%s) found by %s: %+v", path, e.Text, e.Link, phrase(e.Text), r.Hits)
			}
		}
	}
	if s := crawlSource(t, c, srcURL("/broken")); s.Status != crawl.StatusHTTPError || s.HTTP != 500 || s.Failures != 1 {
		t.Errorf("broken: %+v", s)
	}
	if s := crawlSource(t, c, srcURL("/garbage")); s.Status != crawl.StatusParseError || !strings.Contains(s.Error, "not a feed") {
		t.Errorf("garbage: %+v", s)
	}
	total := crawlCount(t, c, "from:"+id)
	if total != 15 {
		t.Fatalf("%d crawled posts, want 15", total)
	}

	// Running again: validators give 304s, nothing new.
	for path := range feeds {
		sum, err := c.CrawlRun(ctx, srcURL(path))
		if err != nil {
			t.Fatal(err)
		}
		if sum.Status != crawl.StatusNotModified || sum.New != 0 {
			t.Errorf("second run of %s: %+v", path, sum)
		}
	}
	if got := crawlCount(t, c, "from:"+id); got != total {
		t.Fatalf("second runs added posts: %d -> %d", total, got)
	}
	metricsText := scrape(t, c.Base)
	for _, want := range []string{
		`murmur_crawl_fetches_total{status="not_modified"} 5`,
		`murmur_crawl_fetches_total{status="http_error"} 1`,
		`murmur_crawl_items_ingested_total 15`,
		`murmur_crawl_sources{status="not_modified"} 5`,
		fmt.Sprintf(`murmur_crawl_source_items_seen{url=%q} 3`, srcURL("/rss")),
		`murmur_crawl_fetch_duration_seconds_count`,
		`murmur_posts_accepted_total{source="crawl"} 15`,
	} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// A restart keeps the list, the schedule and the seen items.
	before, _ := c.CrawlSources(ctx)
	stop()
	servers["/rss"].Set("/rss", crawltest.Doc{ContentType: "application/rss+xml", Body: crawltest.RSS("rss", "en", es[0:3])}) // validators gone
	c, _, _ = crawlNode(t, dir, true)
	after, err := c.CrawlSources(ctx)
	if err != nil || len(after) != len(before) {
		t.Fatalf("after restart: %v %v", after, err)
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.URL != b.URL || !a.NextRun.Equal(b.NextRun) || a.ItemsSeen != b.ItemsSeen || a.Status != b.Status {
			t.Errorf("after restart %+v, before %+v", a, b)
		}
	}
	sum, err := c.CrawlRun(ctx, srcURL("/rss"))
	if err != nil || sum.Status != crawl.StatusOK || sum.New != 0 || sum.Duplicates != 3 {
		t.Fatalf("run after restart: %+v %v", sum, err)
	}
	if got := crawlCount(t, c, "from:"+id); got != total {
		t.Fatalf("restart re-ingested: %d -> %d", total, got)
	}
	if err := c.CrawlRemove(ctx, srcURL("/broken")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CrawlRun(ctx, srcURL("/broken")); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("run of a removed source: %v", err)
	}
}

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

func TestCrawlOff(t *testing.T) {
	c, _, _ := crawlNode(t, t.TempDir(), false)
	_, err := c.CrawlSources(context.Background())
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict || !strings.Contains(apiErr.Message, "--crawl") {
		t.Fatalf("crawl routes of a node without --crawl: %v", err)
	}
}

// BenchmarkCrawlIntoNode measures a crawl of a 1,000-item RSS feed into a
// real node (sign, index in bleve, persist), from add to every item stored.
func BenchmarkCrawlIntoNode(b *testing.B) {
	es := crawltest.Fortunes(b, "en", 0, 1000)
	srv := crawltest.NewServer(b)
	srv.Set("/feed", crawltest.Doc{ContentType: "application/rss+xml", Body: crawltest.RSS("bench", "en", es)})
	items := 0
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		n, err := node.New(node.Config{DataDir: b.TempDir(), APIAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), Crawl: true, CrawlAllowPrivate: true})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		c := api.NewClient(n.APIAddr())
		for _, err := c.Status(ctx); err != nil; _, err = c.Status(ctx) {
			time.Sleep(5 * time.Millisecond)
		}
		b.StartTimer()
		u := fmt.Sprintf("%s/feed?%d", srv.URL, i)
		if _, err := c.CrawlAdd(ctx, u); err != nil {
			b.Fatal(err)
		}
		for {
			list, err := c.CrawlSources(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if list[0].ItemsSeen == int64(len(es)) {
				break
			}
			if list[0].Failures > 0 {
				b.Fatalf("%+v", list[0])
			}
			time.Sleep(2 * time.Millisecond)
		}
		items += len(es)
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
}
