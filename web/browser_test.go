package web_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/internal/testenv"
)

// ArtifactsEnv names the directory the browser test saves its screenshots
// in; without it they go to a temporary directory.
const ArtifactsEnv = "MURMUR_ARTIFACTS"

// browser starts headless chromium for one test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	testenv.Need(t, err == nil, "chromium", "apt-get install chromium chromium-driver")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Headless,
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(bcancel)
	return bctx
}

// artifacts returns the directory screenshots go to.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(ArtifactsEnv)
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, "web")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts directory: %v", err)
	}
	return dir
}

// do runs browser steps and stops the test at the first that fails.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}

// until waits for a JavaScript condition to hold in the page.
func until(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("browser: waiting for %s (%s): %v", what, expr, err)
	}
}

// clickToLoad clicks what sel finds and waits for the page it leads to.
func clickToLoad(t *testing.T, ctx context.Context, what, sel string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// screenshot saves the whole page as dir/name.png.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("save screenshot: %v", err)
	}
	t.Logf("screenshot: %s", path)
}

// colorScheme makes the page see prefers-color-scheme as scheme.
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

// searches reads how many searches a node has run from its /metrics.
func searches(t *testing.T, n *testNode) int {
	t.Helper()
	return int(metricSum(t, n.base, "murmur_search_requests_total"))
}

// metricSum adds up every series of a metric a node exports.
func metricSum(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	total := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			total += v
		}
	}
	return total
}

// took matches the line that says how long a search took and how much of
// the network answered.
var took = regexp.MustCompile(`^(\d+) ms · (\d+) of (\d+) (shards?|peers?) answered$`)

// answered reads the results' "N of M shards answered" line.
func answered(t *testing.T, ctx context.Context) (n, of int, unit string) {
	t.Helper()
	line := eval[string](t, ctx, `(document.querySelector('#results .took')?.textContent || '').replace(/\s+/g, ' ').trim()`)
	m := took.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("the results say %q, want \"… ms · N of M shards answered\"", line)
	}
	n, _ = strconv.Atoi(m[2])
	of, _ = strconv.Atoi(m[3])
	return n, of, m[4]
}

// authors returns the author IDs of the posts the results show.
func authors(t *testing.T, ctx context.Context) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, href := range eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#hits article a.author'), a => a.getAttribute('href'))`) {
		out[strings.TrimPrefix(href, "/a/")]++
	}
	return out
}

// TestBrowser drives real chromium against a real network of 3 nodes, as a
// person would: posts written through node A are found by typing a query on
// node B's page, with highlights; "more" and Latest; a post written with
// node A's composer is found at once from node C's page; the node page shows
// its peers; a query the network cannot route says it is best-effort, and
// partial once a node is gone. Then on a desktop and a phone, in light and
// dark. Screenshots of each page are saved for people to look at.
func TestBrowser(t *testing.T) {
	ctx := browser(t)
	dir := artifacts(t)
	nodes := startNodes(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]

	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var lines []api.ImportLine
	for i := range 25 {
		lines = append(lines, api.ImportLine{
			Text:      fmt.Sprintf("the river number %d runs to the sea, past the old mill #water", i),
			CreatedAt: base.Add(time.Duration(i) * time.Hour).Format(time.RFC3339),
			Lang:      []string{"en", "de", "fr"}[i%3],
			Author:    []string{"Ada", "Grace", "Edsger"}[i%3],
		})
	}
	lines = append(lines, api.ImportLine{Text: "a quiet lake with no flow at all", CreatedAt: base.Format(time.RFC3339), Lang: "en", Author: "Ada"})
	// The import returns once every post is at the owners of its keys, so
	// another node's search finds them at once.
	a.importPosts(t, lines)
	// Node A's profile names it beside its peer ID wherever its posts show.
	if _, err := api.NewClient(a.base).SetProfile(context.Background(), api.ProfileRequest{Name: "Mill Archive", Bio: "Old river notes."}); err != nil {
		t.Fatalf("set node A's profile: %v", err)
	}

	// Search as you type on node B: the posts written through node A come
	// without pressing Enter, with few searches for many keystrokes, and
	// the address bar follows.
	do(t, ctx, "open node B's home page", chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.CSS("#q")))
	before := searches(t, b)
	do(t, ctx, "type a query", chromedp.SendKeys(chromedp.CSS("#q"), "river sea"))
	until(t, ctx, "results for the typed query", `(document.querySelector('#results .summary')||{}).textContent?.includes('25 posts match')`)
	until(t, ctx, "the count told to screen readers", `document.querySelector('#search-status').textContent.includes('25 posts match')`)
	// Each page of results that follows its query live runs one more
	// search, for the posts written while the page was on its way.
	if ran := searches(t, b) - before; ran < 1 || ran > 4 {
		t.Errorf("typing 9 characters ran %d searches; want 1 to 4 (debounced)", ran)
	}
	if got := eval[int](t, ctx, `document.querySelectorAll('#hits > li').length`); got != 20 {
		t.Errorf("first page shows %d posts, want 20", got)
	}
	if got := authors(t, ctx); len(got) != 1 || got[a.id] != 20 {
		t.Errorf("node B shows posts by %v, want all 20 by node A (%s)", got, a.id)
	}
	if names := eval[[]string](t, ctx, `Array.from(new Set(Array.from(document.querySelectorAll('#hits .meta .name'), n => n.textContent)))`); len(names) != 1 || names[0] != "Mill Archive" {
		t.Errorf("node B names node A's posts %v, want its profile's name beside the peer ID", names)
	}
	marks := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#hits mark'), m => m.textContent.toLowerCase())`)
	if len(marks) < 40 || !strings.Contains(strings.Join(marks, " "), "river") || !strings.Contains(strings.Join(marks, " "), "sea") {
		t.Errorf("highlights %v, want river and sea in every post", marks)
	}
	if n, of, unit := answered(t, ctx); n != of || of < 1 || !strings.HasPrefix(unit, "shard") {
		t.Errorf("node B's search: %d of %d %s answered, want every shard", n, of, unit)
	}
	if eval[bool](t, ctx, `!!document.querySelector('#results .partial, #results .best-effort')`) {
		t.Errorf("a complete, routed answer carries a partial or best-effort notice")
	}
	if loc := eval[string](t, ctx, `location.pathname + location.search`); loc != "/?q=river+sea&sort=top" {
		t.Errorf("address bar %q, want /?q=river+sea&sort=top", loc)
	}
	if got := eval[string](t, ctx, `document.querySelector('#hits a[href="/?q=%23water"]')?.textContent`); got != "#water" {
		t.Errorf("the hashtag is not a link to its search: %q", got)
	}
	screenshot(t, ctx, dir, "search-node-b-desktop-light")

	// "More results" appends the rest in place.
	do(t, ctx, "follow more", chromedp.Click(chromedp.CSS("#more")))
	until(t, ctx, "the second page", `document.querySelectorAll('#hits > li').length === 25 && !document.querySelector('#more')`)
	ids := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#hits article'), a => a.id)`)
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	if len(seen) != 25 {
		t.Errorf("after more: %d distinct posts of %d shown, want 25", len(seen), len(ids))
	}
	screenshot(t, ctx, dir, "search-more-node-b-desktop-light")

	// Latest puts the newest first.
	do(t, ctx, "switch to Latest", chromedp.Click(chromedp.CSS(`input[name=sort][value=latest]`)))
	until(t, ctx, "latest order", `location.search.includes('sort=latest') && document.querySelector('#hits article .text')?.textContent.includes('number 24 ')`)
	screenshot(t, ctx, dir, "search-latest-node-b-desktop-light")

	// Live: a post written through node C while node B's results are open
	// waits behind a notice, and shows at the top once it is pressed.
	until(t, ctx, "the page following its results", `!!document.querySelector('#results[data-live]') && !!document.querySelector('.new-posts-row')`)
	standing := func() float64 {
		return metricSum(t, c.base, "murmur_live_subscriptions") + metricSum(t, a.base, "murmur_live_subscriptions") + metricSum(t, b.base, "murmur_live_subscriptions")
	}
	for deadline := time.Now().Add(20 * time.Second); standing() < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the results page keeps no standing search at the owners")
		}
	}
	shown := eval[int](t, ctx, `document.querySelectorAll('#hits > li').length`)
	liveText := "the river reaches the sea tonight, written live"
	if _, err := api.NewClient(c.base).Post(context.Background(), api.PostRequest{Text: liveText}); err != nil {
		t.Fatalf("post through node C: %v", err)
	}
	until(t, ctx, "the new-posts notice", `(document.querySelector('.new-posts-notice:not([hidden])')||{}).textContent?.startsWith('1 new post')`)
	if got := eval[int](t, ctx, `document.querySelectorAll('#hits > li').length`); got != shown {
		t.Errorf("the live post entered the list before the notice was pressed: %d posts shown, %d before", got, shown)
	}
	screenshot(t, ctx, dir, "search-live-notice-node-b-desktop-light")
	do(t, ctx, "show the new post", chromedp.Click(chromedp.CSS(".new-posts-notice")))
	until(t, ctx, "the live post at the top", `document.querySelector('#hits article .text')?.textContent === `+strconv.Quote(liveText)+` && document.querySelectorAll('#hits > li').length === `+strconv.Itoa(shown+1)+` && document.querySelector('.new-posts-notice').hidden`)

	// Follow the search from its results; node B's home page then shows its
	// posts newest first, and a new match arrives there live.
	clickToLoad(t, ctx, "follow the search", `form.follow button[type=submit]`)
	until(t, ctx, "back on the results, followed", `location.search.includes('q=river+sea') && document.querySelector('form.follow button')?.textContent === 'Unfollow'`)
	do(t, ctx, "open node B's home", chromedp.Navigate(b.base+"/home"), chromedp.WaitVisible(chromedp.CSS("#results")))
	if got := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('ul.follows a'), a => a.textContent)`); len(got) != 1 || got[0] != "river sea" {
		t.Errorf("home lists follows %v, want the search river sea", got)
	}
	if got := eval[string](t, ctx, `document.querySelector('#hits article .text')?.textContent`); got != liveText {
		t.Errorf("home's newest post %q, want the one written live %q", got, liveText)
	}
	homeShown := eval[int](t, ctx, `document.querySelectorAll('#hits > li').length`)
	until(t, ctx, "home following its timeline", `!!document.querySelector('#results[data-live]') && !!document.querySelector('.new-posts-row')`)
	for deadline := time.Now().Add(20 * time.Second); standing() < 4; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("home keeps no standing search at the owners")
		}
	}
	homeText := "the river met the sea again, for the home page"
	if _, err := api.NewClient(c.base).Post(context.Background(), api.PostRequest{Text: homeText}); err != nil {
		t.Fatalf("post through node C: %v", err)
	}
	until(t, ctx, "home's new-posts notice", `(document.querySelector('.new-posts-notice:not([hidden])')||{}).textContent?.startsWith('1 new post')`)
	do(t, ctx, "show it", chromedp.Click(chromedp.CSS(".new-posts-notice")))
	until(t, ctx, "the new post at the top of home", `document.querySelector('#hits article .text')?.textContent === `+strconv.Quote(homeText)+` && document.querySelectorAll('#hits > li').length === `+strconv.Itoa(homeShown+1))
	if shown := eval[bool](t, ctx, `getComputedStyle(document.querySelector('.new-posts-notice')).display !== 'none'`); shown {
		t.Errorf("the new-posts notice still shows once its posts are in the list")
	}
	screenshot(t, ctx, dir, "home-node-b-desktop-light")
	clickToLoad(t, ctx, "unfollow from home", `ul.follows form.follow button`)
	until(t, ctx, "home with nothing followed", `document.querySelector('.following p')?.textContent.startsWith('Nothing yet')`)

	// Post from node A's page: the count follows the text and the post
	// shows at once.
	do(t, ctx, "open node A's home page", chromedp.Navigate(a.base+"/"), chromedp.WaitVisible(chromedp.CSS("#text")))
	text := "fresh news from the lagoon #murmur"
	do(t, ctx, "write a post", chromedp.SendKeys(chromedp.CSS("#text"), text))
	until(t, ctx, "the character count", `document.querySelector('#count').textContent.startsWith('`+strconv.Itoa(len(text))+` / 1000')`)
	do(t, ctx, "send the post", chromedp.Click(chromedp.CSS(`form.composer button[type=submit]`)))
	until(t, ctx, "the new post on the page", `document.querySelector('.new-posts article')?.textContent.includes('lagoon')`)
	if v := eval[string](t, ctx, `document.querySelector('#text').value`); v != "" {
		t.Errorf("the composer kept %q after posting", v)
	}
	screenshot(t, ctx, dir, "posted-node-a-desktop-light")

	// Node C's page finds it by its one unusual word at the first try: the
	// post was at its owners before node A's page showed it.
	do(t, ctx, "open node C's home page", chromedp.Navigate(c.base+"/"), chromedp.WaitVisible(chromedp.CSS("#q")))
	do(t, ctx, "type the post's word", chromedp.SendKeys(chromedp.CSS("#q"), "lagoon"))
	until(t, ctx, "the answer of node C", `(document.querySelector('#results .summary')||{}).textContent?.includes('match')`)
	if got := eval[string](t, ctx, `document.querySelector('#results .summary').textContent.replace(/\s+/g, ' ').trim()`); !strings.HasPrefix(got, "1 post matches.") {
		t.Errorf("node C's search for the new post says %q, want 1 post", got)
	}
	if got := eval[string](t, ctx, `document.querySelector('#hits article .text')?.textContent`); got != text {
		t.Errorf("node C shows %q, want the post written on node A's page, %q", got, text)
	}
	if got := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#hits mark'), m => m.textContent)`); len(got) != 1 || got[0] != "lagoon" {
		t.Errorf("node C highlights %q, want [lagoon]", got)
	}
	if got := authors(t, ctx); got[a.id] != 1 {
		t.Errorf("node C shows the post by %v, want node A (%s)", got, a.id)
	}
	if n, of, unit := answered(t, ctx); n != of || of < 1 || !strings.HasPrefix(unit, "shard") {
		t.Errorf("node C's search: %d of %d %s answered, want every shard", n, of, unit)
	}
	screenshot(t, ctx, dir, "found-node-c-desktop-light")

	// A post's own page on node C, and an error shown next to the box.
	clickToLoad(t, ctx, "open the post", "#hits a.when")
	until(t, ctx, "the post page", `document.querySelector('#sig')?.textContent.includes('Valid')`)
	postPath := eval[string](t, ctx, `location.pathname`)
	do(t, ctx, "reply with too much", chromedp.SetValue(chromedp.CSS("#text-reply"), strings.Repeat("x", 1001)))
	do(t, ctx, "send the reply", chromedp.Click(chromedp.CSS(`form.composer button[type=submit]`)))
	until(t, ctx, "the error next to the box", `document.querySelector('#error-reply').textContent.includes('longer than 1000')`)
	screenshot(t, ctx, dir, "post-node-c-desktop-light")

	// The node page: node A is connected to the two others.
	do(t, ctx, "open the node page", chromedp.Navigate(a.base+"/node"))
	until(t, ctx, "the peer ID", `document.querySelector('#peer-id')?.textContent === '`+a.id+`'`)
	if got := eval[string](t, ctx, `document.querySelector('#peers').parentElement.textContent.replace(/\s+/g, ' ').trim()`); got != "2 connected peers" {
		t.Errorf("node page says %q, want 2 connected peers", got)
	}
	if got := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#peer-list code'), c => c.textContent)`); !slices.Contains(got, b.id) || !slices.Contains(got, c.id) || len(got) != 2 {
		t.Errorf("node page lists peers %v, want nodes B (%s) and C (%s)", got, b.id, c.id)
	}
	if got := eval[string](t, ctx, `document.querySelector('#routing').textContent`); got != "2" {
		t.Errorf("node page: %s in the routing table, want 2", got)
	}
	if got := eval[int](t, ctx, `document.querySelectorAll('ul.addrs code').length`); got < 1 {
		t.Errorf("node page lists %d addresses to bootstrap from, want at least 1", got)
	}
	// 26 imported, two written live through node C, one from node A's page.
	if got := eval[string](t, ctx, `document.querySelector('#posts').textContent`); got != "29" {
		t.Errorf("node page: %s posts held, want 29", got)
	}
	if held, _ := strconv.Atoi(eval[string](t, ctx, `document.querySelector('#keys').textContent`)); held < 1 {
		t.Errorf("node page: %d keys held, want some", held)
	}
	if got := eval[string](t, ctx, `document.querySelector('#network')?.textContent ?? ''`); got != a.net.Name() {
		t.Errorf("node page: network %q, want %q", got, a.net.Name())
	}
	repl := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('section[aria-labelledby=repl-title] tbody tr'), r => r.textContent.replace(/\s+/g, ' ').trim())`)
	for _, want := range []string{"murmur_keys_under_replicated", "murmur_repair_passes_total", "murmur_placement_short_total"} {
		if !strings.Contains(strings.Join(repl, "\n"), want) {
			t.Errorf("the node page's replication section lacks %s: %q", want, repl)
		}
	}
	screenshot(t, ctx, dir, "node-a-desktop-light")

	// A query with no whole word (a lone prefix) cannot be routed to the
	// owners of a key: the page says the answer is best-effort.
	do(t, ctx, "search by a prefix", chromedp.Navigate(b.base+"/?q=rive*"), chromedp.WaitVisible(chromedp.CSS("#results")))
	if !eval[bool](t, ctx, `document.querySelector('#results .best-effort')?.textContent.includes('best-effort') ?? false`) {
		t.Errorf("a prefix search does not say it is best-effort")
	}
	if n, of, unit := answered(t, ctx); n != 3 || of != 3 || unit != "peers" {
		t.Errorf("best-effort search: %d of %d %s answered, want 3 of 3 peers", n, of, unit)
	}
	if got := eval[int](t, ctx, `document.querySelectorAll('#hits > li').length`); got != 20 {
		t.Errorf("best-effort search shows %d posts, want 20", got)
	}
	screenshot(t, ctx, dir, "search-best-effort-node-b-desktop-light")

	// A phone and a desktop, light and dark: the colours follow the
	// system's scheme and nothing is wider than the screen.
	for _, look := range []struct {
		name          string
		width, height int64
		mobile        bool
		scheme, bg    string
		paths         []string
	}{
		{"phone-dark", 390, 844, true, "dark", "rgb(21, 23, 26)", []string{"/?q=river&sort=top", "/node", "/", postPath}},
		{"phone-light", 390, 844, true, "light", "rgb(251, 251, 250)", []string{"/?q=river&sort=latest", "/node"}},
		{"desktop-dark", 1280, 900, false, "dark", "rgb(21, 23, 26)", []string{"/?q=river&sort=top", "/node", postPath}},
	} {
		var opts []chromedp.EmulateViewportOption
		if look.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		do(t, ctx, "become "+look.name, chromedp.EmulateViewport(look.width, look.height, opts...), colorScheme(look.scheme))
		for _, path := range look.paths {
			do(t, ctx, "open "+path, chromedp.Navigate(a.base+path), chromedp.WaitVisible(chromedp.CSS("main")))
			if bg := eval[string](t, ctx, `getComputedStyle(document.body).backgroundColor`); bg != look.bg {
				t.Errorf("%s %s: background %s, want %s", look.name, path, bg, look.bg)
			}
			if w := eval[int](t, ctx, `document.documentElement.scrollWidth`); w > int(look.width) {
				t.Errorf("%s %s: the page is %d px wide on a %d px screen", look.name, path, w, look.width)
			}
			page := strings.Trim(strings.NewReplacer("/", "-", "?", "-", "=", "-", "&", "-").Replace(path), "-")
			if page == "" {
				page = "home"
			}
			if len(page) > 20 {
				page = page[:20]
			}
			screenshot(t, ctx, dir, look.name+"-"+page)
		}
	}

	// A node dies. A best-effort search asks the peers in the node's
	// routing table, and the dead one stays there until the node has tried
	// to redial it, about 200 ms after the connection dropped
	// (p2p.Service.checkPeer): an answer in that window must say it is
	// partial. Once the table has learnt, the survivors' answer is complete
	// among them. The window is short for a browser on a busy machine, so a
	// miss restarts node C and tries again.
	do(t, ctx, "back to a desktop in light", chromedp.EmulateViewport(1280, 900), colorScheme("light"))
	for attempt := 1; ; attempt++ {
		c.kill(t)
		do(t, ctx, "search by a prefix with node C gone", chromedp.Navigate(a.base+"/?q=rive*"), chromedp.WaitVisible(chromedp.CSS("#results")))
		if got := eval[string](t, ctx, `document.querySelector('#results .partial')?.textContent ?? ''`); got != "" {
			if !strings.Contains(got, "only 2 of 3 peers answered") {
				t.Errorf("with node C killed, the partial notice says %q, want \"only 2 of 3 peers answered\"", got)
			}
			screenshot(t, ctx, dir, "search-partial-node-a-desktop-light")
			break
		}
		if n, of, unit := answered(t, ctx); n != 2 || of != 2 || unit != "peers" {
			t.Fatalf("with node C killed, the answer says %d of %d %s answered without a partial notice; want it partial, or 2 of 2 peers once node A has dropped node C", n, of, unit)
		}
		if attempt == 5 {
			t.Fatalf("%d times, node A had dropped the killed node C before the page's search: no partial answer to show", attempt)
		}
		t.Logf("attempt %d: node A had already dropped node C (2 of 2 peers answered); restarting node C", attempt)
		c.restart(t)
	}
}
