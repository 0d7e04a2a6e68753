package server

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBodyTimeoutSparesSlowHandlers: the body timeout bounds reading a
// request, not the handler's work after it. If the read deadline outlived
// the body, net/http's watch for a client that hangs up would time out and
// cancel a handler still working (a crawl run, the end of an import).
func TestBodyTimeoutSparesSlowHandlers(t *testing.T) {
	const timeout = 200 * time.Millisecond
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(4 * timeout):
			io.WriteString(w, "done")
		case <-r.Context().Done():
			http.Error(w, "canceled", http.StatusServiceUnavailable)
		}
	})
	srv := NewServer(h, Timeouts{Header: timeout, Body: timeout, Idle: timeout}, slog.New(slog.DiscardHandler))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	for _, method := range []string{"GET", "POST"} {
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader(`{"url":"https://example.org/feed"}`)
		}
		req, _ := http.NewRequest(method, "http://"+l.Addr().String()+"/", body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(data) != "done" {
			t.Errorf("%s, handler working 4x the body timeout: %d %q, want 200 done", method, resp.StatusCode, data)
		}
	}
}
