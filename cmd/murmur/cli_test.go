package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
)

// fakeNode is an HTTP server that answers the API requests the CLI makes
// with fixed bodies and records the last one.
type fakeNode struct {
	*httptest.Server
	mu   sync.Mutex
	last string // "METHOD /path?query body"
}

func newFakeNode(t *testing.T) *fakeNode {
	f := &fakeNode{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.last = strings.TrimSpace(r.Method + " " + r.URL.RequestURI() + " " + string(body))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/api/v1/search":
			io.WriteString(w, `{"hits":[],"total":7}`)
		case r.URL.Path == "/api/v1/crawl/run":
			var req struct{ URL string }
			_ = json.Unmarshal(body, &req)
			json.NewEncoder(w).Encode(map[string]any{"url": req.URL, "status": "ok", "items": 2, "new": 1})
		case r.URL.Path == "/api/v1/crawl/sources" && r.Method == http.MethodGet:
			io.WriteString(w, `{"sources":[]}`)
		case r.URL.Path == "/api/v1/posts":
			io.WriteString(w, `{"id":"fakeid"}`)
		case strings.HasPrefix(r.URL.Path, "/api/v1/posts/"):
			io.WriteString(w, `{"id":"fakeid","text":"a post"}`)
		case r.URL.Path == "/api/v1/status":
			io.WriteString(w, `{"posts":5}`)
		case r.URL.Path == "/api/v1/follows" && r.Method == http.MethodDelete && r.URL.Query().Get("search") == "missing":
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"search \"missing\": not followed"}`)
		case r.URL.Path == "/api/v1/follows":
			io.WriteString(w, `{"authors":["12D3KooWfake"],"searches":["#heron"]}`)
		case r.URL.Path == "/api/v1/timeline" && r.URL.Query().Get("cursor") == "":
			io.WriteString(w, `{"hits":[{"id":"p2","author":"12D3KooWfake","text":"second #heron","created_at":"2025-06-02T00:00:00Z"}],"total":1,"next_cursor":"`+fakeCursor+`"}`)
		case r.URL.Path == "/api/v1/timeline":
			io.WriteString(w, `{"hits":[{"id":"p1","author":"12D3KooWfake","text":"first #heron","created_at":"2025-06-01T00:00:00Z"}],"total":1}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// fakeCursor is the next_cursor of the fake node's first timeline page.
const fakeCursor = "2025-06-02T00:00:00Z/p2"

func (f *fakeNode) take() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.last
	f.last = ""
	return s
}

// runCLI runs the CLI in a child process whose default API address answers
// nothing, so that a request that reaches the fake node went where --api
// said.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := murmurCmd(context.Background(), args...)
	cmd.Env = append(cmd.Env, "MURMUR_API=127.0.0.1:1", "MURMUR_DATA="+t.TempDir(), "MURMUR_API_TOKEN=")
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("murmur %q: %v", args, err)
	}
	return o.String(), e.String(), code
}

// TestFlagsAnywhere: flags go before or after the arguments, '--' ends
// them, and the single-dash long flags of Go's flag package still work.
func TestFlagsAnywhere(t *testing.T) {
	f := newFakeNode(t)
	x := f.Listener.Addr().String()
	search := func(q, extra string) string {
		v := url.Values{"q": {q}, "sort": {"top"}, "limit": {"20"}}
		if extra != "" {
			more, _ := url.ParseQuery(extra)
			for k, vs := range more {
				v[k] = vs
			}
		}
		return "GET /api/v1/search?" + v.Encode()
	}
	for _, tc := range []struct {
		args    []string
		req     string // the request the fake node must get
		wantOut string
	}{
		{[]string{"search", "hello", "--api", x}, search("hello", ""), "7 matches"},
		{[]string{"search", "--api", x, "hello"}, search("hello", ""), "7 matches"},
		{[]string{"search", "hello", "world", "--limit", "5", "--api=" + x, "--sort", "latest"}, search("hello world", "limit=5&sort=latest"), "7 matches"},
		{[]string{"search", "--api", x, "--", "-dogs", "cats"}, search("-dogs cats", ""), "7 matches"},
		{[]string{"search", "--api", x, "--", "--limit", "5"}, search("--limit 5", ""), "7 matches"},
		// Once the query has begun, -word is the query language's negation,
		// as it was when the Go flag package stopped at the first argument.
		{[]string{"search", "cats", "-dogs", "--api", x}, search("cats -dogs", ""), "7 matches"},
		{[]string{"search", "--api", x, "python", "-json"}, search("python -json", ""), "7 matches"},
		{[]string{"search", "--local", "hello", "--json", "--api", x}, search("hello", "scope=local"), `"total":7`},
		// Single-dash long flags.
		{[]string{"search", "-api", x, "-limit", "3", "-json", "hello"}, search("hello", "limit=3"), `"total":7`},
		{[]string{"search", "-api=" + x, "-local", "hello"}, search("hello", "scope=local"), "7 matches"},
		{[]string{"crawl", "run", "https://feed.example/rss", "--api", x}, `POST /api/v1/crawl/run {"url":"https://feed.example/rss"}`, "https://feed.example/rss: ok"},
		{[]string{"crawl", "--api", x, "run", "https://feed.example/rss", "--json"}, `POST /api/v1/crawl/run {"url":"https://feed.example/rss"}`, `"status": "ok"`},
		{[]string{"crawl", "-api", x, "list", "-json"}, "GET /api/v1/crawl/sources", "[]"},
		{[]string{"crawl", "list", "--api", x}, "GET /api/v1/crawl/sources", "no sources"},
		{[]string{"post", "hello", "there", "--lang", "en", "--api", x}, `POST /api/v1/posts {"text":"hello there","lang":"en"}`, "fakeid"},
		{[]string{"post", "--api", x, "--", "-5", "degrees"}, `POST /api/v1/posts {"text":"-5 degrees"}`, "fakeid"},
		{[]string{"post", "-api", x, "-lang", "en", "it", "is", "-5", "-lang"}, `POST /api/v1/posts {"text":"it is -5 -lang","lang":"en"}`, "fakeid"},
		{[]string{"get", "abc123", "--api", x}, "GET /api/v1/posts/abc123", `"text": "a post"`},
		{[]string{"get", "-api", x, "--", "abc123"}, "GET /api/v1/posts/abc123", `"text": "a post"`},
		{[]string{"status", "-api", x}, "GET /api/v1/status", `"posts": 5`},
		{[]string{"follow", "--search", "#heron", "--api", x}, `POST /api/v1/follows {"search":"#heron"}`, "authors:\n  12D3KooWfake\nsearches:\n  #heron\n"},
		{[]string{"follow", "--api", x, "--author", "12D3KooWfake"}, `POST /api/v1/follows {"author":"12D3KooWfake"}`, "authors:\n  12D3KooWfake\n"},
		{[]string{"follow", "-api", x, "-search", "-dogs cats", "-json"}, `POST /api/v1/follows {"search":"-dogs cats"}`, `"searches": [`},
		{[]string{"unfollow", "--search", "#heron", "--api", x}, "DELETE /api/v1/follows?search=%23heron", "searches:\n  #heron\n"},
		{[]string{"unfollow", "--api", x, "--author", "12D3KooWfake", "--json"}, "DELETE /api/v1/follows?author=12D3KooWfake", `"authors": [`},
		{[]string{"follows", "--api", x}, "GET /api/v1/follows", "authors:\n  12D3KooWfake\nsearches:\n  #heron\n"},
		{[]string{"follows", "-json", "-api", x}, "GET /api/v1/follows", `"searches": [`},
		{[]string{"timeline", "--api", x}, "GET /api/v1/timeline?limit=20", "1 posts (0 ms)\n\n1. "},
		{[]string{"timeline", "--api", x}, "GET /api/v1/timeline?limit=20", "second #heron\n   id p2\nmore: murmur timeline --cursor " + fakeCursor + "\n"},
		{[]string{"timeline", "--limit", "5", "--api", x}, "GET /api/v1/timeline?limit=5", "more: murmur timeline --cursor " + fakeCursor + " --limit 5\n"},
		{[]string{"timeline", "-api", x, "-cursor", "C", "-limit", "5"}, "GET /api/v1/timeline?cursor=C&limit=5", "first #heron"},
		// --all asks for the next page with the first one's cursor, and numbers on.
		{[]string{"timeline", "--all", "--api", x}, "GET /api/v1/timeline?" + url.Values{"cursor": {fakeCursor}, "limit": {"20"}}.Encode(), "\n2. "},
		{[]string{"timeline", "--json", "--api", x}, "GET /api/v1/timeline?limit=20", `"next_cursor":"` + fakeCursor + `"`},
	} {
		stdout, stderr, code := runCLI(t, "", tc.args...)
		req := f.take()
		if code != 0 || req != tc.req || !strings.Contains(stdout, tc.wantOut) {
			t.Errorf("murmur %q: exit %d, request %q\nwant request %q and output with %q; output:\n%s%s", tc.args, code, req, tc.req, tc.wantOut, stdout, stderr)
		}
	}
}

// TestCommandLineMistakes: an unknown flag or command, or missing
// arguments, exit with status 2, an error that says what is wrong and a hint
// to the command's help.
func TestCommandLineMistakes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "Available Commands:"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"serch", "x"}, "Did you mean this?\n\tsearch"},
		{[]string{"search"}, "murmur search: give a query\nRun 'murmur search --help' for usage."},
		{[]string{"search", "hello", "--bogus"}, "murmur search: unknown flag: --bogus\nRun 'murmur search --help' for usage."},
		{[]string{"search", "-dogs"}, "goes after '--': murmur search -- -word"},
		{[]string{"search", "x", "--limit"}, "flag needs an argument: --limit"},
		{[]string{"search", "x", "--limit", "many"}, `invalid argument "many" for "--limit"`},
		{[]string{"search", "x", "--follow", "--all"}, "--follow prints every match from the first"},
		{[]string{"post"}, "murmur post: no text given"},
		{[]string{"get"}, "murmur get: give one post ID"},
		{[]string{"delete", "a", "b"}, "murmur delete: give one post ID"},
		{[]string{"import"}, "give one file (or - for standard input)"},
		{[]string{"import", "-", "--chunk", "0"}, "--chunk must be at least 1"},
		{[]string{"status", "extra"}, "murmur status: takes no arguments"},
		{[]string{"crawl"}, "murmur crawl: give a subcommand: add URL | list | remove URL | run URL"},
		{[]string{"crawl", "lst"}, `unknown subcommand "lst": add URL | list | remove URL | run URL (did you mean list?)`},
		{[]string{"crawl", "run"}, "murmur crawl run: give one URL\nRun 'murmur crawl run --help' for usage."},
		{[]string{"key"}, "murmur key: give a subcommand"},
		{[]string{"key", "import", "--out", "f", "file"}, "unknown flag: --out"},
		{[]string{"key", "new", "--id-difficulty", "999"}, "--id-difficulty 999 is outside"},
		{[]string{"token", "extra"}, "murmur token: takes no arguments"},
		{[]string{"node", "--min-free-disk", "lots"}, `"lots" is not a size`},
		{[]string{"node", "--log-level", "loud"}, "--log-level:"},
		{[]string{"completion", "tcsh"}, `unknown subcommand "tcsh": bash | zsh | fish | powershell`},
		{[]string{"completion"}, "give a shell"},
		{[]string{"follow"}, "murmur follow: give --author PEER-ID-or-LABEL or --search QUERY\n"},
		{[]string{"follow", "heron", "words"}, `murmur follow: say what "heron words" is: give --author PEER-ID-or-LABEL or --search QUERY, as in: murmur follow --search 'heron words'`},
		{[]string{"follow", "--author", "a", "--search", "b"}, "murmur follow: give --author or --search, not both"},
		{[]string{"follow", "--search", " "}, "murmur follow: --search is empty: give a query"},
		{[]string{"follow", "--author="}, "murmur follow: --author is empty"},
		{[]string{"follow", "--search"}, "flag needs an argument: --search"},
		{[]string{"follow", "--list"}, "unknown flag: --list"},
		{[]string{"unfollow"}, "murmur unfollow: give --author PEER-ID-or-LABEL or --search QUERY"},
		{[]string{"unfollow", "#heron"}, "as in: murmur unfollow --search '#heron'"},
		{[]string{"follows", "extra"}, "murmur follows: takes no arguments"},
		{[]string{"timeline", "extra"}, "murmur timeline: takes no arguments"},
		{[]string{"timeline", "--limit", "0"}, "murmur timeline: --limit 0 is outside 1..1000"},
		{[]string{"timeline", "--limit", "1001"}, "--limit 1001 is outside 1..1000"},
		{[]string{"timeline", "--follow", "--all"}, "--follow prints the newest posts, then new ones; it takes neither --all, --cursor nor --json"},
		{[]string{"timeline", "--follow", "--cursor", "C"}, "it takes neither --all, --cursor nor --json"},
		{[]string{"timeline", "--follow", "--json"}, "it takes neither --all, --cursor nor --json"},
	} {
		stdout, stderr, code := runCLI(t, "", tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("murmur %q: exit %d, want non-zero and an error with %q; got:\n%s%s", tc.args, code, tc.want, stdout, stderr)
		}
		if code != 2 {
			t.Errorf("murmur %q: exit %d, want 2 (a mistake in the command line)", tc.args, code)
		}
	}
	// A failure that is not the command line's is status 1: unfollowing
	// what is not followed, too.
	f := newFakeNode(t)
	if _, stderr, code := runCLI(t, "", "unfollow", "--search", "missing", "--api", f.Listener.Addr().String()); code != 1 ||
		!strings.Contains(stderr, `murmur unfollow: not followed: search "missing" ('murmur follows' lists what is)`) || strings.Contains(stderr, "--help") {
		t.Errorf("unfollow of what is not followed: exit %d, want 1 and 'not followed'\n%s", code, stderr)
	}
	if req := f.take(); req != "DELETE /api/v1/follows?search=missing" {
		t.Errorf("unfollow of what is not followed asked %q", req)
	}
	if _, stderr, code := runCLI(t, "", "search", "hello", "--api", "127.0.0.1:1"); code != 1 || !strings.Contains(stderr, "connection refused") {
		t.Errorf("search of a node that is not there: exit %d\n%s", code, stderr)
	}
}

// commandPaths lists every command of the tree, as its words after murmur.
func commandPaths(c *cobra.Command, prefix []string) [][]string {
	var paths [][]string
	for _, sub := range c.Commands() {
		p := append(append([]string(nil), prefix...), sub.Name())
		paths = append(paths, p)
		paths = append(paths, commandPaths(sub, p)...)
	}
	return paths
}

// TestHelpEverywhere: every command answers --help, -h and -help with its
// usage on standard output and exit status 0, and describes itself.
func TestHelpEverywhere(t *testing.T) {
	root := newRootCmd()
	paths := append(commandPaths(root, nil), nil, []string{"help"})
	if len(paths) < 20 {
		t.Fatalf("only %d commands: %q", len(paths), paths)
	}
	for _, p := range commandPaths(root, nil) {
		c, _, err := root.Find(p)
		if err != nil || c.Short == "" || (c.Long == "" && c.Example == "") {
			t.Errorf("murmur %s: want a Short and a Long or an Example (%v)", strings.Join(p, " "), err)
		}
	}
	for _, p := range paths {
		for _, h := range []string{"--help", "-h", "-help"} {
			args := append(append([]string(nil), p...), h)
			stdout, stderr, code := runCLI(t, "", args...)
			want := "murmur " + strings.Join(p, " ")
			if len(p) == 0 {
				want = "murmur [command]"
			}
			if code != 0 || !strings.Contains(stdout, "Usage:") || !strings.Contains(stdout, want) || stderr != "" {
				t.Errorf("murmur %q: exit %d, want 0 and usage naming %q on standard output; got:\n%s\nstderr: %s", args, code, want, stdout, stderr)
			}
		}
	}
	// Help after the arguments, too.
	if stdout, _, code := runCLI(t, "", "crawl", "run", "https://x.example/", "--help"); code != 0 || !strings.Contains(stdout, "murmur crawl run [flags] URL") {
		t.Errorf("crawl run URL --help: exit %d\n%s", code, stdout)
	}
}

// TestCompletion: 'murmur completion SHELL' prints a completion script, and
// the completion it drives knows the flags of a command.
func TestCompletion(t *testing.T) {
	stdout, stderr, code := runCLI(t, "", "completion", "bash")
	if code != 0 || !strings.Contains(stdout, "__start_murmur") || !strings.Contains(stdout, "complete -o default -F __start_murmur murmur") {
		t.Fatalf("completion bash: exit %d\n%.500s\n%s", code, stdout, stderr)
	}
	for _, shell := range []string{"zsh", "fish", "powershell"} {
		if stdout, stderr, code := runCLI(t, "", "completion", shell); code != 0 || !strings.Contains(stdout, "murmur") {
			t.Errorf("completion %s: exit %d\n%.300s\n%s", shell, code, stdout, stderr)
		}
	}
	stdout, _, code = runCLI(t, "", "__complete", "search", "hello", "--f")
	if code != 0 || !strings.Contains(stdout, "--follow") {
		t.Errorf("completing search --f: exit %d\n%s", code, stdout)
	}
	stdout, _, code = runCLI(t, "", "__complete", "crawl", "r")
	if code != 0 || !strings.Contains(stdout, "remove") || !strings.Contains(stdout, "run") {
		t.Errorf("completing crawl r: exit %d\n%s", code, stdout)
	}
}

func TestNormalizeArgs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"search hello", "search -- hello"},
		{"search hello --api X", "search --api X -- hello"},
		{"search -api X hello -api", "search --api X -- hello -api"},
		{"search -api=X -json hello", "search --api=X --json -- hello"},
		{"search --cursor -abc hello", "search --cursor -abc -- hello"},
		{"search -cursor -abc hello", "search --cursor -abc -- hello"},
		{"search cats -dogs --limit 3", "search --limit 3 -- cats -dogs"},
		{"search -- -dogs --limit 3", "search -- -dogs --limit 3"},
		{"search -h", "search -h"},
		{"search -dogs", "search -dogs"}, // unknown before the query: cobra says so
		{"search hello -h", "search -- hello -h"},
		{"search hello --limit", "search --limit"},
		{"search -- hello --limit", "search -- hello --limit"},
		{"post -lang en -reply-to ID hi -there", "post --lang en --reply-to ID -- hi -there"},
		{"crawl -api X list -json", "crawl --api X list --json"},
		{"crawl run URL -api X", "crawl run URL --api X"},
		{"crawl -json run -data D URL", "crawl --json run --data D URL"},
		{"key -data D export -out F", "key --data D export --out F"},
		{"key export -out F -id-difficulty 3", "key export --out F -id-difficulty 3"}, // not export's
		{"key import -data D -", "key import --data D -"},
		{"import - -chunk 5 -quiet", "import - --chunk 5 --quiet"},
		{"import -- -weird-name.jsonl", "import -- -weird-name.jsonl"},
		{"node -data D -listen A -listen B -mdns=false -crawl", "node --data D --listen A --listen B --mdns=false --crawl"},
		{"node -bogus 3", "node -bogus 3"},
		{"token -help", "token --help"},
		{"-help", "--help"},
		{"help search", "help search"},
		{"__complete search -ap", "__complete search -ap"},
	} {
		got := strings.Join(normalizeArgs(newRootCmd(), strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("normalizeArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := normalizeArgs(newRootCmd(), []string{"search", "a b", "--", "-c d"}); !reflect.DeepEqual(got, []string{"search", "--", "a b", "-c d"}) {
		t.Errorf("arguments with spaces: %q", got)
	}
}
