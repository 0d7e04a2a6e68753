package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
)

// The test binary doubles as the murmur binary: with runMainEnv set it runs
// main() on its arguments, so tests exercise the real CLI in child processes.
const runMainEnv = "MURMUR_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func murmurCmd(ctx context.Context, args ...string) *exec.Cmd {
	if len(args) > 0 && args[0] == "node" {
		// A network of its own, on loopback, unseen by mDNS: test nodes never
		// meet each other or a real node on this machine.
		args = append(args, "--mdns=false", "--listen", "/ip4/127.0.0.1/tcp/0", "--network", fmt.Sprintf("cmdtest-%d-%d", os.Getpid(), nodeSeq.Add(1)))
	}
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	return cmd
}

var nodeSeq atomic.Int64

var apiLine = regexp.MustCompile(`API and web page: http://([0-9.:]+|\[[0-9a-f:]+\]:[0-9]+)/`)

// startNodeProcess runs `murmur node` with extra flags in a child process and
// returns its API address once it answers.
func startNodeProcess(t *testing.T, dir string, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	args := append([]string{"node", "--data", dir, "--api", "127.0.0.1:0", "--log-level", "warn", "--id-difficulty", "6", "--post-difficulty", "6"}, extra...)
	cmd := murmurCmd(context.Background(), args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := apiLine.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	select {
	case addr := <-addrc:
		c := api.NewClient(addr)
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := c.Status(context.Background()); err == nil {
				return cmd, addr
			}
			if time.Now().After(deadline) {
				t.Fatalf("node at %s never answered", addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("node did not print its API address")
	}
	return nil, ""
}

// TestCrashLosesNothingAcknowledged imports in chunks into a node process,
// kills it with SIGKILL part way, restarts it on the same data and finds every
// post whose chunk had been acknowledged.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	cmd, addr := startNodeProcess(t, dir)

	const lines = 40000
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriter(pw)
		for i := range lines {
			fmt.Fprintf(w, `{"text":"crashcorpus entry u%dx of the import that dies","created_at":"2025-06-01T00:00:00Z"}`+"\n", i)
		}
		w.Flush()
		pw.Close()
	}()
	var acked atomic.Int64
	killed := make(chan struct{})
	go func() {
		// Kill once a few chunks are stored, while later ones are in flight.
		for acked.Load() < 3000 {
			time.Sleep(time.Millisecond)
		}
		_ = cmd.Process.Kill()
		close(killed)
	}()
	res, err := api.NewClient(addr).ImportChunked(context.Background(), pr, 500, api.ImportOptions{}, func(p api.ImportProgress) {
		acked.Store(int64(p.Lines))
	})
	<-killed
	pr.CloseWithError(io.ErrClosedPipe)
	if err == nil {
		t.Fatalf("import finished before the kill (%d lines); nothing was tested", res.Lines)
	}
	_ = cmd.Wait()
	n := int(acked.Load())
	t.Logf("killed after %d acknowledged lines (%v)", n, err)

	_, addr = startNodeProcess(t, dir)
	c := api.NewClient(addr)
	found := map[string]bool{}
	params := url.Values{"q": {"crashcorpus"}, "limit": {"1000"}, "sort": {"latest"}}
	for {
		r, err := c.Search(context.Background(), params)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range r.Hits {
			found[strings.Fields(h.Text)[2]] = true
		}
		if r.NextCursor == "" {
			break
		}
		params.Set("cursor", r.NextCursor)
	}
	for i := range n {
		if !found[fmt.Sprintf("u%dx", i)] {
			t.Fatalf("acknowledged line %d is missing after the crash (%d of %d acknowledged found)", i+1, len(found), n)
		}
	}
	if _, err := c.Post(context.Background(), api.PostRequest{Text: "still writable after the crash"}); err != nil {
		t.Fatalf("post after reopen: %v", err)
	}
}

// TestCLI runs the real subcommands against a node process.
func TestCLI(t *testing.T) {
	_, addr := startNodeProcess(t, t.TempDir())
	run := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		cmd := murmurCmd(context.Background(), append([]string{args[0], "--api", addr}, args[1:]...)...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if err != nil {
			return out.String() + errb.String(), err
		}
		return out.String(), nil
	}
	id, err := run("post", "--lang", "en", "hello", "from", "the", "#cli")
	if err != nil {
		t.Fatalf("post: %v %s", err, id)
	}
	id = strings.TrimSpace(id)
	file := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(file, []byte("{\"text\":\"imported #cli line\"}\n{\"text\":\"\"}\n{\"text\":\"another imported line\"}\n"), 0o600)
	out, err := run("import", "--chunk", "2", file)
	if err != nil || !strings.Contains(out, "3 lines: 2 accepted, 1 rejected") || !strings.Contains(out, "line 2: text is empty") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	out, err = run("search", "--json", "#cli")
	if err != nil {
		t.Fatalf("search: %v %s", err, out)
	}
	var r api.SearchResponse
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Total != 2 {
		t.Fatalf("search #cli: %v %s", err, out)
	}
	out, err = run("search", "hello")
	if err != nil || !strings.Contains(out, "1 matches") || !strings.Contains(out, "*hello*") || !strings.Contains(out, id) {
		t.Fatalf("search hello: %v\n%s", err, out)
	}
	if out, err := run("get", id); err != nil || !strings.Contains(out, `"hello from the #cli"`) {
		t.Fatalf("get: %v %s", err, out)
	}
	if out, err := run("status"); err != nil || !strings.Contains(out, `"posts": 3`) {
		t.Fatalf("status: %v %s", err, out)
	}
	if out, err := run("search", `"unterminated`); err == nil || !strings.Contains(out, "400") {
		t.Fatalf("bad query: want an error naming the 400, got %v %s", err, out)
	}
	if out, err := run("delete", id); err != nil || !strings.Contains(out, "deleted "+id) {
		t.Fatalf("delete: %v %s", err, out)
	}
	if out, err := run("get", id); err == nil || !strings.Contains(out, "410") {
		t.Fatalf("get deleted: %v %s", err, out)
	}
	if out, err := run("frobnicate"); err == nil || !strings.Contains(out, "unknown command") {
		t.Fatalf("unknown command: %v %s", err, out)
	}
}

// TestCLIToken: a node on another machine takes changes only with its API
// token, which the CLI reads from $MURMUR_API_TOKEN or from the --data
// directory it is given, and prints with 'murmur token'. The token file of
// the default data directory goes to no other machine.
func TestCLIToken(t *testing.T) {
	ip := nonLoopbackIP()
	if ip == "" {
		t.Skip("no non-loopback address on this machine")
	}
	dir := t.TempDir()
	_, addr := startNodeProcess(t, dir, "--api", "0.0.0.0:0")
	_, port, _ := net.SplitHostPort(addr)
	remote := net.JoinHostPort(ip, port)
	run := func(env []string, args ...string) (string, error) {
		cmd := murmurCmd(context.Background(), args...)
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	tokOut, err := run(nil, "token", "--data", dir)
	if err != nil {
		t.Fatalf("murmur token: %v %s", err, tokOut)
	}
	token := strings.TrimSpace(tokOut)
	if len(token) != 64 {
		t.Fatalf("murmur token printed %q", tokOut)
	}
	// The default data directory is the node's, but the address is not
	// loopback: its token stays home.
	out, err := run([]string{"MURMUR_DATA=" + dir}, "post", "--api", remote, "no token sent")
	if err == nil || !strings.Contains(out, "401") || !strings.Contains(out, "murmur token") {
		t.Fatalf("remote post without token: want a 401 saying how to get one, got %v\n%s", err, out)
	}
	if out, err := run(nil, "post", "--api", remote, "--data", dir, "token from --data"); err != nil {
		t.Fatalf("remote post with --data: %v\n%s", err, out)
	}
	if out, err := run([]string{"MURMUR_API_TOKEN=" + token}, "post", "--api", remote, "token from the environment"); err != nil {
		t.Fatalf("remote post with MURMUR_API_TOKEN: %v\n%s", err, out)
	}
	if out, err := run([]string{"MURMUR_DATA=" + dir}, "post", "--api", addr, "loopback, token from the default data directory"); err != nil {
		t.Fatalf("loopback post: %v\n%s", err, out)
	}
	if out, err := run(nil, "search", "--api", remote, "token"); err != nil || !strings.Contains(out, "3 matches") {
		t.Fatalf("remote search (reads need no token): %v\n%s", err, out)
	}
}

func nonLoopbackIP() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			return ipn.IP.String()
		}
	}
	return ""
}
