package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"go.uber.org/goleak"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/internal/poll"
)

var (
	demoWebLine  = regexp.MustCompile(`Web page:  http://(\S+)/`)
	demoNodeLine = regexp.MustCompile(`node (\d+)  (\S+)  API http://\S+/`)
)

// TestDemo runs 'murmur demo' in this process with 3 nodes and 60 posts,
// finds through node 0's API a post that node 1 imported, loads the web
// page, and stops the demo as Ctrl-C would.
func TestDemo(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), goleak.IgnoreTopFunction("github.com/blevesearch/bleve_index_api.AnalysisWorker"))
	dir := t.TempDir()
	var out syncBuffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"demo", "--nodes", "3", "--posts", "60", "--api", "127.0.0.1:0", "--data", dir})
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		runErr = root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	poll.Until(t, "the demo to say it is ready", 60*time.Second, 20*time.Millisecond, func() bool {
		select {
		case <-done:
			t.Fatalf("the demo ended before it was ready: %v\n%s", runErr, out.String())
		default:
		}
		return strings.Contains(out.String(), "murmur demo is ready")
	})
	t.Logf("ready in %v", time.Since(start).Round(time.Millisecond))
	printed := out.String()
	web := demoWebLine.FindStringSubmatch(printed)
	if web == nil || !strings.Contains(printed, "murmur search --api "+web[1]+" '") || !strings.Contains(printed, "Ctrl-C stops") {
		t.Fatalf("the demo did not say where to look and how to stop:\n%s", printed)
	}
	addr := web[1]
	ids := map[string]string{}
	for _, m := range demoNodeLine.FindAllStringSubmatch(printed, -1) {
		ids[m[1]] = m[2]
	}
	if len(ids) != 3 {
		t.Fatalf("want 3 nodes listed, got %v:\n%s", ids, printed)
	}

	// Post i went through node i mod 3: the sample is the same each time.
	posts, _ := demoSample(60)
	if len(posts) != 60 {
		t.Fatalf("%d sample posts, want 60", len(posts))
	}
	want := posts[1]
	word := longestWord(want.Text)
	c := api.NewClient(addr)
	poll.UntilOK(t, "node 1's post found through node 0", 20*time.Second, 50*time.Millisecond, func() error {
		res, err := c.Search(context.Background(), url.Values{"q": {word}, "limit": {"100"}})
		if err != nil {
			return err
		}
		for _, h := range res.Hits {
			if h.Author == ids["1"] && h.Text == want.Text && h.Label == want.Author {
				return nil
			}
		}
		return fmt.Errorf("not among the %d hits of %q", len(res.Hits), word)
	})

	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / answered %s", resp.Status)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the demo did not stop within 30s of its cancel:\n%s", out.String())
	}
	if runErr != nil {
		t.Fatalf("the demo stopped with %v:\n%s", runErr, out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "node1")); err != nil {
		t.Errorf("--data was given, yet: %v", err)
	}
}

// longestWord is the longest run of letters in text.
func longestWord(text string) string {
	best := ""
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) }) {
		if len(w) > len(best) {
			best = w
		}
	}
	return best
}

// TestParseFortunes: texts between "%" lines, attributions as labels,
// whitespace made single spaces, pictures and long texts left out.
func TestParseFortunes(t *testing.T) {
	in := "A bird in the hand\n\tis worth two in the bush.\n%\n" +
		"Little strokes fell great oaks.\n\t\t-- Benjamin Franklin, \"Poor Richard's Almanack\"\n%\n" +
		"  /\\_/\\\n ( o.o )\n  > ^ <\n%\n" +
		strings.Repeat("long ", demoMaxText/5+1) + "\n%\n" +
		"Bold\bBold overstruck\n%\n" +
		"Last, without a final newline."
	got := parseFortunes(in)
	want := []api.ImportLine{
		{Text: "A bird in the hand is worth two in the bush.", Lang: "en"},
		{Text: "Little strokes fell great oaks.", Author: "Benjamin Franklin", Lang: "en"},
		{Text: "Last, without a final newline.", Lang: "en"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parseFortunes:\n got %+v\nwant %+v", got, want)
	}
	// The sample shipped with murmur parses whole.
	if n, seps := len(parseFortunes(demoPostsText)), strings.Count(demoPostsText, "\n%\n")+1; n != seps || n < 300 {
		t.Errorf("%d of the %d shipped sample texts parse, want all and at least 300", n, seps)
	}
}

// TestDemoSampleFallback: without fortune files the demo takes the
// proverbs shipped with murmur, the same ones each time.
func TestDemoSampleFallback(t *testing.T) {
	orig := fortuneDir
	fortuneDir = t.TempDir()
	defer func() { fortuneDir = orig }()
	a, source := demoSample(50)
	b, _ := demoSample(80)
	if len(a) != 50 || len(b) != 80 || source != "the proverbs shipped with murmur" {
		t.Fatalf("demoSample: %d and %d posts from %q", len(a), len(b), source)
	}
	if fmt.Sprint(a) != fmt.Sprint(b[:50]) {
		t.Errorf("a larger sample does not start with the smaller one")
	}
	if all, _ := demoSample(100_000); len(all) != len(parseFortunes(demoPostsText)) {
		t.Errorf("demoSample(100000) gave %d posts, want every shipped one", len(all))
	}
}

// TestDemoMistakes: bad flags are usage errors, found before any node
// starts.
func TestDemoMistakes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"demo", "--nodes", "0"}, "--nodes 0 is outside 1..16"},
		{[]string{"demo", "--nodes", "17"}, "--nodes 17 is outside 1..16"},
		{[]string{"demo", "--posts", "-1"}, "--posts -1 is negative"},
		{[]string{"demo", "--log-level", "loud"}, "--log-level:"},
		{[]string{"demo", "extra"}, "takes no arguments"},
	} {
		var stderr syncBuffer
		if code := run(context.Background(), tc.args, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("murmur %q: exit %d, want 2 and %q; got:\n%s", tc.args, code, tc.want, stderr.String())
		}
	}
}
