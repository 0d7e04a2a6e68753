package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/api/server"
	"github.com/murmur-p2p/murmur/node"
)

// startWith starts a node with cfg (DataDir and a logger filled in) and
// returns it running; it stops when the test ends.
func startWith(t *testing.T, cfg node.Config) *node.Node {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node stopped with error: %v", err)
		}
	})
	waitReady(t, "http://"+n.APIAddr())
	return n
}

// otherAddr returns a non-loopback IPv4 address of this machine, from which
// a request counts as coming from another machine, or "" if there is none.
func otherAddr() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			return ipn.IP.String()
		}
	}
	return ""
}

// request sends one request and returns the status and body.
func request(t *testing.T, method, u, host string, hdr http.Header, body string) (int, string, http.Header) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), resp.Header
}

func postCount(t *testing.T, base string) uint64 {
	t.Helper()
	code, body, _ := request(t, "GET", base+"/api/v1/status", "", nil, "")
	var s api.Status
	if code != 200 || json.Unmarshal([]byte(body), &s) != nil {
		t.Fatalf("status: %d %s", code, body)
	}
	return s.Posts
}

var jsonType = http.Header{"Content-Type": {"application/json"}}

// TestWhoMayWrite is issue 21's first list, tried against a real node that
// listens on every interface: a page on another site cannot post, a DNS
// name rebound to the node is refused, and another machine needs the token
// to change anything, while the node's own machine needs none.
func TestWhoMayWrite(t *testing.T) {
	dir := t.TempDir()
	n := startWith(t, node.Config{DataDir: dir, APIAddr: "0.0.0.0:0", APIHosts: []string{"node1", "murmur.example.org:443"}})
	_, port, _ := net.SplitHostPort(n.APIAddr())
	local := "http://127.0.0.1:" + port

	tokenPath := filepath.Join(dir, api.TokenFile)
	st, err := os.Stat(tokenPath)
	if err != nil {
		t.Fatalf("no token file: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %04o, want 0600", st.Mode().Perm())
	}
	token, err := api.ReadToken(dir)
	if err != nil {
		t.Fatal(err)
	}

	// A page on another site, in the user's browser (so on loopback).
	crossSite := http.Header{"Content-Type": {"text/plain"}, "Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}
	if code, body, _ := request(t, "POST", local+"/api/v1/posts", "", crossSite, `{"text":"forged by a web page"}`); code != http.StatusForbidden {
		t.Errorf("cross-site text/plain post: %d %s, want 403", code, body)
	}
	delete(crossSite, "Content-Type")
	for _, path := range []string{"/api/v1/import", "/api/v1/crawl/sources", "/post"} {
		if code, body, _ := request(t, "POST", local+path, "", crossSite, `{"text":"forged"}`); code != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %d %s, want 403", path, code, body)
		}
	}
	// A form or text/plain body without Origin headers (an old browser):
	// the API takes JSON only.
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		code, body, _ := request(t, "POST", local+"/api/v1/posts", "", http.Header{"Content-Type": {ct}}, `{"text":"not json by type"}`)
		if code != http.StatusUnsupportedMediaType || !strings.Contains(body, "application/json") {
			t.Errorf("POST with Content-Type %q: %d %s, want 415 naming application/json", ct, code, body)
		}
	}
	if got := postCount(t, local); got != 0 {
		t.Fatalf("%d posts stored by refused requests", got)
	}

	// DNS rebinding: the attacker's name, resolved to this node.
	for _, host := range []string{"attacker.example", "attacker.example:" + port, "murmur.example.org:" + port} {
		code, body, _ := request(t, "GET", local+"/api/v1/status", host, nil, "")
		if code != http.StatusMisdirectedRequest || !strings.Contains(body, "--api-host") {
			t.Errorf("Host %s: %d %s, want 421 naming --api-host", host, code, body)
		}
	}
	if code, _, _ := request(t, "POST", local+"/api/v1/posts", "attacker.example", jsonType, `{"text":"rebound"}`); code != http.StatusMisdirectedRequest {
		t.Errorf("write with Host attacker.example: %d, want 421", code)
	}
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "127.0.0.1:7072", "node1:7070", "NODE1", "murmur.example.org:443"} {
		if code, body, _ := request(t, "GET", local+"/api/v1/status", host, nil, ""); code != 200 {
			t.Errorf("Host %s: %d %s, want 200", host, code, body)
		}
	}
	// Health checks answer whatever the name; metrics follow the rule.
	for _, p := range []string{"/livez", "/readyz"} {
		if code, _, _ := request(t, "GET", local+p, "attacker.example", nil, ""); code != 200 {
			t.Errorf("%s with any Host: %d, want 200", p, code)
		}
	}
	if code, _, _ := request(t, "GET", local+"/metrics", "node1:7070", nil, ""); code != 200 {
		t.Errorf("/metrics by a configured name: %d, want 200", code)
	}
	if code, _, _ := request(t, "GET", local+"/metrics", "node2:7070", nil, ""); code != http.StatusMisdirectedRequest {
		t.Errorf("/metrics by an unknown name: %d, want 421", code)
	}

	// The node's own machine writes without a token (the README's CLI).
	if code, body, _ := request(t, "POST", local+"/api/v1/posts", "", jsonType, `{"text":"from loopback"}`); code != http.StatusCreated {
		t.Fatalf("loopback post: %d %s", code, body)
	}
	// ... unless the request came through a proxy on it.
	if code, _, _ := request(t, "POST", local+"/api/v1/posts", "", http.Header{"Content-Type": {"application/json"}, "X-Forwarded-For": {"203.0.113.9"}}, `{"text":"proxied"}`); code != http.StatusUnauthorized {
		t.Errorf("proxied post without token: %d, want 401", code)
	}

	// Another machine: reads are open, writes need the token.
	ip := otherAddr()
	if ip == "" {
		t.Log("no non-loopback address on this machine; the token is tested through the proxy rule only")
		return
	}
	remote := "http://" + net.JoinHostPort(ip, port)
	code, body, hdr := request(t, "POST", remote+"/api/v1/posts", "", jsonType, `{"text":"remote without token"}`)
	if code != http.StatusUnauthorized || !strings.Contains(body, "murmur token") || hdr.Get("WWW-Authenticate") == "" {
		t.Errorf("remote post without token: %d %s, want 401 saying how to get the token", code, body)
	}
	if code, _, _ := request(t, "POST", remote+"/api/v1/posts", "", http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + strings.Repeat("0", 64)}}, `{"text":"wrong token"}`); code != http.StatusUnauthorized {
		t.Errorf("remote post with a wrong token: %d, want 401", code)
	}
	if code, _, _ := request(t, "GET", remote+"/api/v1/search?q=loopback", "", nil, ""); code != 200 {
		t.Errorf("remote search without token: %d, want 200", code)
	}
	c := api.NewClient(remote)
	c.Token = token
	p, err := c.Post(context.Background(), api.PostRequest{Text: "remote with token"})
	if err != nil {
		t.Fatalf("remote post with token: %v", err)
	}
	if _, err := c.Delete(context.Background(), p.ID); err != nil {
		t.Fatalf("remote delete with token: %v", err)
	}
	c.Token = ""
	var e *api.Error
	if _, err := c.Delete(context.Background(), p.ID); !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
		t.Fatalf("remote delete without token: %v, want 401", err)
	}

	// A browser on another machine: ?token= once, then the cookie.
	code, _, hdr = request(t, "GET", remote+"/?q=remote&token="+token, "", nil, "")
	if code != http.StatusSeeOther || hdr.Get("Location") != "/?q=remote" || !strings.Contains(hdr.Get("Set-Cookie"), server.TokenCookie+"=") {
		t.Fatalf("login with ?token=: %d, Location %q, Set-Cookie %q", code, hdr.Get("Location"), hdr.Get("Set-Cookie"))
	}
	cookie := hdr.Get("Set-Cookie")
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") {
		t.Errorf("token cookie %q is not HttpOnly and SameSite=Strict", cookie)
	}
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {remote}, "Sec-Fetch-Site": {"same-origin"}}
	if code, _, _ := request(t, "POST", remote+"/post", "", form, url.Values{"text": {"from a remote browser"}}.Encode()); code != http.StatusUnauthorized {
		t.Errorf("remote form post without cookie: %d, want 401", code)
	}
	form.Set("Cookie", strings.Split(cookie, ";")[0])
	if code, body, _ := request(t, "POST", remote+"/post", "", form, url.Values{"text": {"from a remote browser"}}.Encode()); code != http.StatusSeeOther && code != http.StatusOK {
		t.Errorf("remote form post with the cookie: %d %s", code, body)
	}
	if code, _, _ := request(t, "GET", remote+"/?token=wrong", "", nil, ""); code != http.StatusUnauthorized {
		t.Errorf("login with a wrong token: %d, want 401", code)
	}
	var refused float64
	mfs, _ := n.Metrics().Gather()
	for _, mf := range mfs {
		if mf.GetName() == "murmur_api_refused_total" {
			for _, m := range mf.GetMetric() {
				refused += m.GetCounter().GetValue()
			}
		}
	}
	if refused < 10 {
		t.Errorf("murmur_api_refused_total is %v after a dozen refusals", refused)
	}
}

// TestReadsNeedTokenWithAPIAuthAll: under --api-auth=all another machine
// needs the token to read too; the node's own machine still does not.
func TestReadsNeedTokenWithAPIAuthAll(t *testing.T) {
	ip := otherAddr()
	if ip == "" {
		t.Skip("no non-loopback address on this machine")
	}
	dir := t.TempDir()
	n := startWith(t, node.Config{DataDir: dir, APIAddr: "0.0.0.0:0", APIAuth: api.AuthAll})
	_, port, _ := net.SplitHostPort(n.APIAddr())
	remote := "http://" + net.JoinHostPort(ip, port)
	token, err := api.ReadToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/api/v1/search?q=x", "/api/v1/status", "/", "/metrics"} {
		if code, _, _ := request(t, "GET", remote+p, "", nil, ""); code != http.StatusUnauthorized {
			t.Errorf("remote GET %s without token: %d, want 401", p, code)
		}
		if code, _, _ := request(t, "GET", remote+p, "", http.Header{"Authorization": {"Bearer " + token}}, ""); code != 200 {
			t.Errorf("remote GET %s with token: %d, want 200", p, code)
		}
		if code, _, _ := request(t, "GET", "http://127.0.0.1:"+port+p, "", nil, ""); code != 200 {
			t.Errorf("loopback GET %s: %d, want 200", p, code)
		}
	}
	if code, _, _ := request(t, "GET", remote+"/readyz", "", nil, ""); code != 200 {
		t.Errorf("remote /readyz: %d, want 200 (health checks need nothing)", code)
	}
}

// TestTokenFileReadableByOthersIsRefused: the node does not start with an
// API token other users can read, and says how to fix it.
func TestTokenFileReadableByOthersIsRefused(t *testing.T) {
	dir := t.TempDir()
	if _, err := api.LoadOrCreateToken(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, api.TokenFile)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := node.New(node.Config{DataDir: dir, APIAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Fatalf("node with a 0644 token file: %v, want a refusal saying chmod 600", err)
	}
}

// TestServerTimeouts: a client that sends its body slowly is cut off at the
// body timeout, but an import whose body keeps flowing takes as long as it
// needs, and an idle connection is closed.
func TestServerTimeouts(t *testing.T) {
	// Each line of the slow import comes a tenth of the timeout after the
	// last, so a loaded machine (CI runs packages side by side under -race)
	// has 900 ms of slack before a gap looks like a stall.
	const timeout = time.Second
	n := startWith(t, node.Config{APIAddr: "127.0.0.1:0", APITimeouts: server.Timeouts{Header: timeout, Body: timeout, Idle: timeout}})
	addr := n.APIAddr()

	// Headers, then 10 of 100 announced bytes, then nothing.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/posts HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"text\":\"", addr)
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, conn); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("a stalled body held the connection for %v", time.Since(start))
		}
	}
	if took := time.Since(start); took > 5*timeout {
		t.Fatalf("a stalled body held the connection for %v, want about %v", took, timeout)
	}

	// An import trickling a line every 100 ms for 3 s, 3x the timeout.
	const lines = 30
	pr, pw := io.Pipe()
	go func() {
		for i := range lines {
			fmt.Fprintf(pw, `{"text":"slow import line %d","created_at":"2025-01-01T00:00:00Z"}`+"\n", i)
			time.Sleep(timeout / 10)
		}
		pw.Close()
	}()
	importStart := time.Now()
	res, err := api.NewClient(addr).Import(context.Background(), pr)
	if err != nil || res.Accepted != lines {
		t.Fatalf("slow but flowing import after %v: %+v, %v; want %d accepted", time.Since(importStart), res, err, lines)
	}

	// An import that sends a few lines and then stalls is told so, with a
	// 408 and its counts, not an empty answer as if it had gone away.
	pr, pw = io.Pipe()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := range 3 {
			fmt.Fprintf(pw, `{"text":"stalled import line %d","created_at":"2025-01-01T00:00:00Z"}`+"\n", i)
		}
		<-stop
		pw.Close()
	}()
	_, err = api.NewClient(addr).Import(context.Background(), pr)
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusRequestTimeout || !strings.Contains(apiErr.Message, "stalled") {
		t.Fatalf("stalled import: %v; want a 408 saying the body stalled", err)
	}

	// A kept-alive connection left idle is closed.
	conn2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	fmt.Fprintf(conn2, "GET /livez HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	br := bufio.NewReader(conn2)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start = time.Now()
	conn2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err == nil || time.Since(start) > 5*timeout {
		t.Fatalf("idle connection: read %v after %v, want a close after about %v", err, time.Since(start), timeout)
	}
}
