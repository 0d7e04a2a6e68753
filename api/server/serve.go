package server

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Defaults of Timeouts, and the bound on request headers.
const (
	// DefaultHeaderTimeout bounds reading a request's headers.
	DefaultHeaderTimeout = 10 * time.Second
	// DefaultBodyTimeout bounds reading a request's body, from the start of
	// the request. An import's body may take longer as long as it flows:
	// each read may wait this long.
	DefaultBodyTimeout = time.Minute
	// DefaultIdleTimeout bounds a kept-alive connection between requests.
	DefaultIdleTimeout = 2 * time.Minute
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 64 << 10
)

// Timeouts bound the API server's connections, so a client that stalls
// cannot hold one forever. Zero fields are the defaults above.
type Timeouts struct {
	Header, Body, Idle time.Duration
}

func (t Timeouts) orDefaults() Timeouts {
	if t.Header <= 0 {
		t.Header = DefaultHeaderTimeout
	}
	if t.Body <= 0 {
		t.Body = DefaultBodyTimeout
	}
	if t.Idle <= 0 {
		t.Idle = DefaultIdleTimeout
	}
	return t
}

// NewServer returns the HTTP server of a node's API and page, serving h
// with the timeouts t. The body timeout is the server's ReadTimeout: it
// bounds reading a request, and net/http lifts it once the body is read, so
// a handler's own work is bounded by its context, not by it.
func NewServer(h http.Handler, t Timeouts, log *slog.Logger) *http.Server {
	t = t.orDefaults()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.Header,
		ReadTimeout:       t.Body,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// letFlow lets r's body take as long as it keeps arriving: each read may
// wait the body timeout, instead of the whole body. Imports stream bodies
// of any size. stalled reports how long the body was waited for if a read
// of it timed out, and 0 otherwise: net/http cancels the request's context
// then, as it does when the client goes away, so only this tells the two
// apart.
func letFlow(w http.ResponseWriter, r *http.Request) (stalled func() time.Duration) {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil || srv.ReadTimeout <= 0 || r.Body == nil || r.Body == http.NoBody {
		return func() time.Duration { return 0 }
	}
	b := &flowingBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: srv.ReadTimeout}
	r.Body = b
	return func() time.Duration {
		if b.stalled.Load() {
			return b.idle
		}
		return 0
	}
}

// flowingBody moves the read deadline before each read of the body. Once
// the body ends, net/http clears the deadline for its watch of the
// connection, and the body leaves it alone.
type flowingBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	idle    time.Duration
	done    bool
	stalled atomic.Bool // a read timed out
}

func (b *flowingBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.done = true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		b.stalled.Store(true)
	}
	return n, err
}
