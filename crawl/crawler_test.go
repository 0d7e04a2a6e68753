package crawl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/murmur-p2p/murmur/crawl/crawltest"
	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/post"
)

// memSink is a small working node: it signs each draft and keeps the posts
// by ID, refusing what post.Sign refuses.
type memSink struct {
	key   crypto.PrivKey
	mu    sync.Mutex
	posts map[string]*post.Post
	calls int
}

func newSink(t testing.TB) *memSink {
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &memSink{key: key, posts: map[string]*post.Post{}}
}

func (s *memSink) Ingest(_ context.Context, drafts []post.Draft) ([]error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	errs := make([]error, len(drafts))
	for i, d := range drafts {
		p, err := post.Sign(s.key, d, time.Now())
		if err != nil {
			errs[i] = err
			continue
		}
		s.posts[p.ID] = p
	}
	return errs, nil
}

func (s *memSink) texts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.posts {
		out = append(out, p.Text)
	}
	return out
}

func (s *memSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.posts)
}

// testConfig is fast and allows 127.0.0.1, where httptest servers live.
func testConfig(t *testing.T, sink Sink) Config {
	return Config{
		Dir: t.TempDir(), Sink: sink, AllowPrivate: true,
		HostInterval: time.Millisecond, HostBurst: 100,
		HeaderTimeout: 300 * time.Millisecond, FetchTimeout: time.Second, DialTimeout: time.Second,
		Logger: slog.New(slog.DiscardHandler),
	}
}

func open(t *testing.T, cfg Config) *Crawler {
	t.Helper()
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func addFetch(t *testing.T, c *Crawler, u string) Summary {
	t.Helper()
	if _, err := c.Add(context.Background(), u); err != nil && !errors.Is(err, ErrExists) {
		t.Fatalf("add %s: %v", u, err)
	}
	return fetch(t, c, u)
}

func fetch(t *testing.T, c *Crawler, u string) Summary {
	t.Helper()
	sum, err := c.Fetch(context.Background(), u)
	if err != nil {
		t.Fatalf("fetch %s: %v", u, err)
	}
	return sum
}

func source(t *testing.T, c *Crawler, u string) Source {
	t.Helper()
	list, _ := c.Sources(context.Background())
	for _, s := range list {
		if s.URL == u {
			return s
		}
	}
	t.Fatalf("%s not listed", u)
	return Source{}
}

func wantPosts(t *testing.T, sink *memSink, es []crawltest.Entry) {
	t.Helper()
	texts := strings.Join(sink.texts(), "\n\x00")
	for _, e := range es {
		// The text's first 40 characters after folding survive any cut.
		want := strings.Join(strings.Fields(e.Text), " ")
		want = string([]rune(want)[:min(40, len([]rune(want)))])
		if !strings.Contains(texts, want) || !strings.Contains(texts, e.Link) {
			t.Errorf("no post holds %q with link %s", want, e.Link)
		}
	}
}

func TestFormats(t *testing.T) {
	es := crawltest.Fortunes(t, "en", 0, 12)
	srv := crawltest.NewServer(t)
	srv.Set("/rss", crawltest.Doc{ContentType: "application/rss+xml", Body: crawltest.RSS("rss", "en", es[0:3]), ETag: `"r1"`})
	srv.Set("/atom", crawltest.Doc{ContentType: "application/atom+xml", Body: crawltest.Atom("atom", "en", es[3:6]), LastModified: "Sun, 01 Jun 2025 12:00:00 GMT"})
	srv.Set("/json", crawltest.Doc{ContentType: "application/feed+json", Body: crawltest.JSONFeed("json", es[6:9]), ETag: `"j1"`})
	srv.Set("/users/f", crawltest.Doc{ContentType: "application/activity+json", Body: crawltest.Actor(srv.URL+"/users/f", srv.URL+"/users/f/outbox")})
	srv.Set("/users/f/outbox", crawltest.Doc{ContentType: "application/activity+json", Body: crawltest.Outbox(srv.URL+"/users/f/outbox", srv.URL+"/users/f/outbox?page=1", 3), ETag: `"o1"`})
	srv.Set("/page", crawltest.Doc{ContentType: "text/html; charset=utf-8", Body: crawltest.Page("/rss", "application/rss+xml")})
	// The outbox's first page; query strings are not paths, so route by hand.
	srv.Handle("/users/f/outbox", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/activity+json")
		if r.URL.Query().Get("page") == "1" {
			fmt.Fprint(w, crawltest.OutboxPage(r.URL.String(), "", es[9:12]))
			return
		}
		if r.Header.Get("If-None-Match") == `"o1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"o1"`)
		fmt.Fprint(w, crawltest.Outbox(srv.URL+"/users/f/outbox", srv.URL+"/users/f/outbox?page=1", 3))
	})
	cases := []struct {
		path    string
		entries []crawltest.Entry
		lang    string
		resolve string
	}{
		{"/rss", es[0:3], "en", ""},
		{"/atom", es[3:6], "en", ""},
		{"/json", es[6:9], "en", ""},
		{"/users/f", es[9:12], "en", "/users/f/outbox"},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			sink := newSink(t)
			cr := open(t, testConfig(t, sink))
			u := srv.URL + c.path
			sum := addFetch(t, cr, u)
			if sum.Status != StatusOK || sum.New != len(c.entries) || sum.Items != len(c.entries) {
				t.Fatalf("first fetch: %+v", sum)
			}
			wantPosts(t, sink, c.entries)
			for _, p := range sink.posts {
				if p.Source != u || p.Lang != c.lang {
					t.Errorf("post source %q lang %q, want %q %q", p.Source, p.Lang, u, c.lang)
				}
				if p.CreatedAt.Year() != 2025 {
					t.Errorf("post date %s is not the item's", p.CreatedAt)
				}
			}
			if c.resolve != "" && source(t, cr, u).Resolved != srv.URL+c.resolve {
				t.Errorf("resolved %q", source(t, cr, u).Resolved)
			}
			// Again: validators give a 304, and nothing new is stored.
			sum = fetch(t, cr, u)
			if sum.New != 0 || sink.count() != len(c.entries) {
				t.Fatalf("second fetch added posts: %+v", sum)
			}
			if sum.Status != StatusNotModified {
				t.Fatalf("second fetch status %q, want %q (conditional GET)", sum.Status, StatusNotModified)
			}
		})
	}
	t.Run("html discovery", func(t *testing.T) {
		sink := newSink(t)
		cr := open(t, testConfig(t, sink))
		u := srv.URL + "/page"
		sum := addFetch(t, cr, u)
		if sum.Status != StatusOK || sum.New != 3 || sum.Fetched != srv.URL+"/rss" {
			t.Fatalf("fetch: %+v", sum)
		}
		wantPosts(t, sink, es[0:3])
		pageHits := srv.Hits("/page")
		if sum = fetch(t, cr, u); sum.Status != StatusNotModified || srv.Hits("/page") != pageHits {
			t.Fatalf("second fetch did not go straight to the feed: %+v, page hits %d -> %d", sum, pageHits, srv.Hits("/page"))
		}
	})
	for _, a := range srv.Agents() {
		if !strings.Contains(a, "murmur") {
			t.Errorf("User-Agent %q does not name murmur", a)
		}
	}
}

// A feed without validators is fetched in full again, but its items are
// not stored twice.
func TestDedupeWithoutValidators(t *testing.T) {
	es := crawltest.Fortunes(t, "de", 0, 5)
	srv := crawltest.NewServer(t)
	srv.Set("/feed", crawltest.Doc{ContentType: "application/rss+xml", Body: crawltest.RSS("de", "de", es[:3])})
	sink := newSink(t)
	cr := open(t, testConfig(t, sink))
	u := srv.URL + "/feed"
	if sum := addFetch(t, cr, u); sum.New != 3 {
		t.Fatalf("first: %+v", sum)
	}
	srv.Set("/feed", crawltest.Doc{ContentType: "application/rss+xml", Body: crawltest.RSS("de", "de", es)})
	sum := fetch(t, cr, u)
	if sum.Status != StatusOK || sum.New != 2 || sum.Duplicates != 3 || sink.count() != 5 {
		t.Fatalf("second: %+v, %d posts", sum, sink.count())
	}
	if s := source(t, cr, u); s.ItemsSeen != 5 || s.LastNew != 2 || s.Status != StatusOK {
		t.Fatalf("source: %+v", s)
	}
}

func TestRestartKeepsScheduleAndSeen(t *testing.T) {
	es := crawltest.Fortunes(t, "es", 0, 4)
	srv := crawltest.NewServer(t)
	srv.Set("/feed", crawltest.Doc{ContentType: "application/atom+xml", Body: crawltest.Atom("es", "es", es)})
	sink := newSink(t)
	cfg := testConfig(t, sink)
	cr, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u := srv.URL + "/feed"
	if sum := addFetch(t, cr, u); sum.New != 4 {
		t.Fatalf("first: %+v", sum)
	}
	before := source(t, cr, u)
	cr.Close()

	cr = open(t, cfg)
	after := source(t, cr, u)
	if !after.NextRun.Equal(before.NextRun) || after.ItemsSeen != 4 || !after.LastFetch.Equal(before.LastFetch) || after.Status != StatusOK {
		t.Fatalf("after restart %+v, before %+v", after, before)
	}
	if sum := fetch(t, cr, u); sum.New != 0 || sum.Duplicates != 4 || sink.count() != 4 {
		t.Fatalf("after restart re-ingested: %+v", sum)
	}
	// Run does not fetch a source before its next run.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	hits := srv.Hits("/feed")
	go func() { done <- cr.Run(ctx) }()
	if _, err := cr.Add(context.Background(), srv.URL+"/other"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return srv.Hits("/other") > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if srv.Hits("/feed") != hits {
		t.Fatalf("a source not due was fetched")
	}
	if s := source(t, cr, srv.URL+"/other"); s.Status != StatusHTTPError || s.HTTP != 404 {
		t.Fatalf("scheduled fetch of a 404: %+v", s)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	poll.Until(t, "the crawler's state", 10*time.Second, 5*time.Millisecond, cond)
}

func TestFaults(t *testing.T) {
	es := crawltest.Fortunes(t, "en", 20, 3)
	good := crawltest.RSS("good", "en", es)
	srv := crawltest.NewServer(t)
	srv.Set("/good", crawltest.Doc{ContentType: "application/rss+xml", Body: good})
	srv.Handle("/slow-head", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv.Handle("/slow-body", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		w.WriteHeader(200)
		for i := 0; i < 100; i++ {
			if _, err := w.Write([]byte("<!-- slow -->")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	srv.Handle("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		chunk := []byte(strings.Repeat("<!-- 50 MB of padding -->", 4096/25*25/25))
		for sent := 0; sent < 50<<20; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	srv.Handle("/huge-declared", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(50<<20))
		w.WriteHeader(200)
	})
	srv.Handle("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop2", http.StatusFound) })
	srv.Handle("/loop2", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusMovedPermanently)
	})
	srv.Set("/bad-xml", crawltest.Doc{ContentType: "application/rss+xml", Body: good[:len(good)/2] + "<<&&"})
	srv.Set("/bad-json", crawltest.Doc{ContentType: "application/feed+json", Body: `{"version":"https://jsonfeed.org/version/1.1","items":[{"id":`})
	srv.Set("/no-feed", crawltest.Doc{ContentType: "text/html", Body: "<!DOCTYPE html><html><head></head><body>hi</body></html>"})
	srv.Handle("/boom", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) })

	cases := []struct {
		path   string
		status string
		msg    string
	}{
		{"/slow-head", StatusTimeout, "timed out"},
		{"/slow-body", StatusTimeout, "timed out"},
		{"/huge", StatusTooLarge, "limit"},
		{"/huge-declared", StatusTooLarge, "limit"},
		{"/loop", StatusRedirects, "redirects"},
		{"/bad-xml", StatusParseError, "not a feed"},
		{"/bad-json", StatusParseError, "not a feed"},
		{"/no-feed", StatusParseError, "links no feed"},
	}
	sink := newSink(t)
	cfg := testConfig(t, sink)
	cfg.MaxBody = 1 << 20
	cr := open(t, cfg)
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			start := time.Now()
			sum := addFetch(t, cr, srv.URL+c.path)
			if sum.Status != c.status || !strings.Contains(sum.Error, c.msg) || sum.New != 0 {
				t.Fatalf("got %+v, want status %q with %q", sum, c.status, c.msg)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Fatalf("took %s", took)
			}
			s := source(t, cr, srv.URL+c.path)
			if s.Status != c.status || s.Failures != 1 || s.Error == "" || !s.NextRun.After(s.LastFetch) {
				t.Fatalf("source %+v", s)
			}
		})
	}
	if srv.Hits("/loop")+srv.Hits("/loop2") > DefaultMaxRedirects+2 {
		t.Errorf("redirect loop followed %d times", srv.Hits("/loop")+srv.Hits("/loop2"))
	}
	// The crawler is still working.
	if sum := addFetch(t, cr, srv.URL+"/good"); sum.Status != StatusOK || sum.New != 3 {
		t.Fatalf("good source after faults: %+v", sum)
	}
}

func TestBackoff(t *testing.T) {
	srv := crawltest.NewServer(t)
	srv.Handle("/boom", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) })
	sink := newSink(t)
	cfg := testConfig(t, sink)
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	cfg.Now = func() time.Time { return now }
	cr := open(t, cfg)
	u := srv.URL + "/boom"
	for i, want := range []time.Duration{1, 2, 4, 8, 16} {
		sum := addFetch(t, cr, u)
		if sum.Status != StatusHTTPError || sum.HTTP != 500 {
			t.Fatalf("fetch %d: %+v", i, sum)
		}
		if got := sum.NextRun.Sub(now); got != want*time.Minute {
			t.Fatalf("after %d failures next run in %s, want %s", i+1, got, want*time.Minute)
		}
		if s := source(t, cr, u); s.Failures != i+1 {
			t.Fatalf("failures %d", s.Failures)
		}
	}
	// A long streak stops at the cap.
	for range 30 {
		fetch(t, cr, u)
	}
	if s := source(t, cr, u); s.NextRun.Sub(now) != DefaultMaxBackoff {
		t.Fatalf("backoff not capped: %s", s.NextRun.Sub(now))
	}
	// Success resets the streak.
	srv.Handle("/boom", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"version":"https://jsonfeed.org/version/1.1","title":"x","items":[]}`)
	})
	if sum := fetch(t, cr, u); sum.Status != StatusOK || source(t, cr, u).Failures != 0 {
		t.Fatalf("after recovery: %+v", sum)
	}
}

func TestRetryAfter(t *testing.T) {
	srv := crawltest.NewServer(t)
	srv.Handle("/busy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	})
	sink := newSink(t)
	cr := open(t, testConfig(t, sink))
	u := srv.URL + "/busy"
	start := time.Now()
	sum := addFetch(t, cr, u)
	if sum.Status != StatusRateLimited || sum.HTTP != 429 || sum.NextRun.Sub(start) < time.Hour {
		t.Fatalf("429: %+v", sum)
	}
	// Within Retry-After even an operator's run does not call the server.
	sum = fetch(t, cr, u)
	if srv.Hits("/busy") != 1 || sum.Status != StatusRateLimited || !strings.Contains(sum.Error, "no request before") {
		t.Fatalf("second run: %+v, %d hits", sum, srv.Hits("/busy"))
	}
	if d := retryAfter("Wed, 21 Oct 2015 07:28:00 GMT", time.Date(2015, 10, 21, 7, 0, 0, 0, time.UTC)); d != 28*time.Minute {
		t.Fatalf("HTTP-date Retry-After: %s", d)
	}
}

func TestRobots(t *testing.T) {
	es := crawltest.Fortunes(t, "en", 30, 2)
	srv := crawltest.NewServer(t)
	srv.Set("/robots.txt", crawltest.Doc{ContentType: "text/plain", Body: "User-agent: murmur\nDisallow: /private/\n\nUser-agent: *\nDisallow: /\n"})
	srv.Set("/private/feed", crawltest.Doc{ContentType: "application/rss+xml", Body: crawltest.RSS("x", "en", es)})
	srv.Set("/public/feed", crawltest.Doc{ContentType: "application/rss+xml", Body: crawltest.RSS("x", "en", es)})
	sink := newSink(t)
	cr := open(t, testConfig(t, sink))
	sum := addFetch(t, cr, srv.URL+"/private/feed")
	if sum.Status != StatusRobots || srv.Hits("/private/feed") != 0 || !strings.Contains(sum.Error, "robots.txt") {
		t.Fatalf("disallowed: %+v, %d hits", sum, srv.Hits("/private/feed"))
	}
	if sum := addFetch(t, cr, srv.URL+"/public/feed"); sum.Status != StatusOK || sum.New != 2 {
		t.Fatalf("allowed: %+v", sum)
	}
	if srv.Hits("/robots.txt") != 1 {
		t.Fatalf("robots.txt fetched %d times, want 1 (cached)", srv.Hits("/robots.txt"))
	}
}

func TestPrivateAddressGuard(t *testing.T) {
	target := crawltest.NewServer(t) // must never be reached
	target.Set("/feed", crawltest.Doc{ContentType: "application/rss+xml", Body: crawltest.RSS("x", "en", nil)})
	front := crawltest.NewServer(t)
	for path, to := range map[string]string{
		"/to-loopback": target.URL + "/feed",
		"/to-ten":      "http://10.1.2.3:80/feed",
		"/to-name":     "http://localhost:" + strings.TrimPrefix(target.URL, "http://127.0.0.1:") + "/feed",
	} {
		front.Handle(path, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, http.StatusFound) })
	}
	sink := newSink(t)
	cfg := testConfig(t, sink)
	cfg.AllowPrivate = false
	cfg.DialTimeout = 500 * time.Millisecond
	cr := open(t, cfg)

	// Straight to loopback and to 10.x: refused before any byte is sent.
	for _, u := range []string{target.URL + "/feed", "http://10.9.8.7:81/feed", "http://[::1]:1/feed", "http://192.168.1.1/feed", "http://172.16.0.1/feed"} {
		start := time.Now()
		sum := addFetch(t, cr, u)
		if sum.Status != StatusRefused || !strings.Contains(sum.Error, "--crawl-allow-private") {
			t.Errorf("%s: %+v", u, sum)
		}
		if time.Since(start) > 400*time.Millisecond {
			t.Errorf("%s: took %s: refusal must come before dialing", u, time.Since(start))
		}
	}
	// Through a redirect from a (test-exempted) front server.
	frontAddr := strings.TrimPrefix(front.URL, "http://")
	cfg.exempt = map[string]bool{frontAddr: true}
	cr2 := open(t, cfg)
	for _, p := range []string{"/to-loopback", "/to-ten", "/to-name"} {
		sum := addFetch(t, cr2, front.URL+p)
		if sum.Status != StatusRefused {
			t.Errorf("redirect %s: %+v", p, sum)
		}
	}
	if n := target.Total(); n != 0 {
		t.Fatalf("the private server got %d requests", n)
	}
	if front.Hits("/to-ten") != 1 {
		t.Fatalf("front server not reached: the test proves nothing")
	}
}

func TestPublicAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.215.14": true, "2606:4700::1111": true,
		"127.0.0.1": false, "10.0.0.1": false, "172.16.5.4": false, "192.168.0.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "::1": false, "fe80::1": false, "fc00::1": false, "::ffff:10.0.0.1": false,
		"64:ff9b::a00:1": false, "224.0.0.1": false, "255.255.255.255": false,
	} {
		if got := publicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicAddr(%s) = %v", addr, got)
		}
	}
}

func TestOutboxPagesBounded(t *testing.T) {
	es := crawltest.Fortunes(t, "it", 0, 2*(MaxOutboxPages+3))
	srv := crawltest.NewServer(t)
	srv.Handle("/outbox", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", `application/ld+json; profile="https://www.w3.org/ns/activitystreams"`)
		var page int
		if _, err := fmt.Sscan(r.URL.Query().Get("page"), &page); err != nil {
			fmt.Fprint(w, crawltest.Outbox(srv.URL+"/outbox", srv.URL+"/outbox?page=0", len(es)))
			return
		}
		// An endless chain of pages.
		fmt.Fprint(w, crawltest.OutboxPage(r.URL.String(), fmt.Sprintf("%s/outbox?page=%d", srv.URL, page+1), es[2*page%len(es):2*page%len(es)+2]))
	})
	sink := newSink(t)
	cr := open(t, testConfig(t, sink))
	sum := addFetch(t, cr, srv.URL+"/outbox")
	if sum.Status != StatusOK || sum.New != 2*MaxOutboxPages {
		t.Fatalf("%+v", sum)
	}
	if hits := srv.Hits("/outbox"); hits != MaxOutboxPages+1 {
		t.Fatalf("%d requests, want %d", hits, MaxOutboxPages+1)
	}
	for _, p := range sink.posts {
		if p.Lang != "it" {
			t.Fatalf("lang %q", p.Lang)
		}
	}
}

func TestAddRemove(t *testing.T) {
	cr := open(t, testConfig(t, newSink(t)))
	ctx := context.Background()
	for _, bad := range []string{"ftp://x/", "/relative", "http://", "http://user:pw@host/"} {
		if _, err := cr.Add(ctx, bad); !errors.Is(err, ErrBadURL) {
			t.Errorf("Add(%q) = %v", bad, err)
		}
	}
	s, err := cr.Add(ctx, "HTTP://Example.ORG#x")
	if err != nil || s.URL != "http://example.org/" || s.Status != StatusNew {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := cr.Add(ctx, "http://example.org/"); !errors.Is(err, ErrExists) {
		t.Fatal(err)
	}
	if _, err := cr.Fetch(ctx, "http://example.com/"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if err := cr.Remove(ctx, "http://example.org"); err != nil {
		t.Fatal(err)
	}
	if err := cr.Remove(ctx, "http://example.org"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if list, _ := cr.Sources(ctx); len(list) != 0 {
		t.Fatal(list)
	}
}
