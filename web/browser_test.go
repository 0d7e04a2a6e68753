package web_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
	resp, err := http.Get(n.base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	total := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "murmur_search_requests_total{") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			total += int(v)
		}
	}
	return total
}

// TestBrowser drives real chromium against real nodes, as a person would:
// type a query and see highlighted matches, follow "more", switch to Latest,
// post from the page and find the post, open a post and the node page, on a
// desktop and a phone, in light and dark. Screenshots of each page are saved
// for people to look at.
func TestBrowser(t *testing.T) {
	ctx := browser(t)
	dir := artifacts(t)
	nodes := startNodes(t, 1)
	home, other := nodes[0], nodes[len(nodes)-1]

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
	home.importPosts(t, lines)

	// Search as you type: the results come without pressing Enter, with
	// few searches for many keystrokes, and the address bar follows.
	do(t, ctx, "open the home page", chromedp.Navigate(home.base+"/"), chromedp.WaitVisible(chromedp.CSS("#q")))
	before := searches(t, home)
	do(t, ctx, "type a query", chromedp.SendKeys(chromedp.CSS("#q"), "river sea"))
	until(t, ctx, "results for the typed query", `(document.querySelector('#results .summary')||{}).textContent?.includes('25 posts match')`)
	until(t, ctx, "the count told to screen readers", `document.querySelector('#search-status').textContent.includes('25 posts match')`)
	if ran := searches(t, home) - before; ran < 1 || ran > 3 {
		t.Errorf("typing 9 characters ran %d searches; want 1 to 3 (debounced)", ran)
	}
	if got := eval[int](t, ctx, `document.querySelectorAll('#hits > li').length`); got != 20 {
		t.Errorf("first page shows %d posts, want 20", got)
	}
	marks := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#hits mark'), m => m.textContent.toLowerCase())`)
	if len(marks) < 40 || !strings.Contains(strings.Join(marks, " "), "river") || !strings.Contains(strings.Join(marks, " "), "sea") {
		t.Errorf("highlights %v, want river and sea in every post", marks)
	}
	if loc := eval[string](t, ctx, `location.pathname + location.search`); loc != "/?q=river+sea&sort=top" {
		t.Errorf("address bar %q, want /?q=river+sea&sort=top", loc)
	}
	if got := eval[string](t, ctx, `document.querySelector('#hits a[href="/?q=%23water"]')?.textContent`); got != "#water" {
		t.Errorf("the hashtag is not a link to its search: %q", got)
	}
	screenshot(t, ctx, dir, "search-desktop-light")

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

	// Latest puts the newest first.
	do(t, ctx, "switch to Latest", chromedp.Click(chromedp.CSS(`input[name=sort][value=latest]`)))
	until(t, ctx, "latest order", `location.search.includes('sort=latest') && document.querySelector('#hits article .text')?.textContent.includes('number 24 ')`)
	screenshot(t, ctx, dir, "search-latest-desktop-light")

	// Post from the page: the count follows the text, the post shows at
	// once, and a search (on another node, once there is a network) finds it.
	do(t, ctx, "open the composer", chromedp.Click(chromedp.CSS("details.compose summary")), chromedp.WaitVisible(chromedp.CSS("#text")))
	text := "fresh news from the lagoon #murmur"
	do(t, ctx, "write a post", chromedp.SendKeys(chromedp.CSS("#text"), text))
	until(t, ctx, "the character count", `document.querySelector('#count').textContent.startsWith('`+strconv.Itoa(len(text))+` / 1000')`)
	do(t, ctx, "send the post", chromedp.Click(chromedp.CSS(`form.composer button[type=submit]`)))
	until(t, ctx, "the new post on the page", `document.querySelector('.new-posts article')?.textContent.includes('lagoon')`)
	if v := eval[string](t, ctx, `document.querySelector('#text').value`); v != "" {
		t.Errorf("the composer kept %q after posting", v)
	}
	screenshot(t, ctx, dir, "posted-desktop-light")
	// On a network the post may need a moment to reach the owners that
	// other asks: search again until it shows.
	deadline := time.Now().Add(20 * time.Second)
	for {
		do(t, ctx, "search for the new post", chromedp.Navigate(other.base+"/?q=lagoon"), chromedp.WaitVisible(chromedp.CSS("#results")))
		if eval[bool](t, ctx, `document.querySelector('#hits mark')?.textContent === 'lagoon'`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new post never showed in a search on %s", other.base)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A post's own page, and an error shown next to the box.
	clickToLoad(t, ctx, "open the post", "#hits a.when")
	until(t, ctx, "the post page", `document.querySelector('#sig')?.textContent.includes('Valid')`)
	postPath := eval[string](t, ctx, `location.pathname`)
	do(t, ctx, "reply with too much", chromedp.SetValue(chromedp.CSS("#text-reply"), strings.Repeat("x", 1001)))
	do(t, ctx, "send the reply", chromedp.Click(chromedp.CSS(`form.composer button[type=submit]`)))
	until(t, ctx, "the error next to the box", `document.querySelector('#error-reply').textContent.includes('longer than 1000')`)
	screenshot(t, ctx, dir, "post-desktop-light")

	// The node page.
	do(t, ctx, "open the node page", chromedp.Navigate(home.base+"/node"))
	until(t, ctx, "the peer ID", `document.querySelector('#peer-id')?.textContent === '`+home.id+`'`)
	if got := eval[string](t, ctx, `document.querySelector('#posts').textContent`); got != "27" {
		t.Errorf("node page: %s posts held, want 27", got)
	}
	screenshot(t, ctx, dir, "node-desktop-light")

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
			do(t, ctx, "open "+path, chromedp.Navigate(home.base+path), chromedp.WaitVisible(chromedp.CSS("main")))
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
}
