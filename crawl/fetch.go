package crawl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/temoto/robotstxt"
	"golang.org/x/time/rate"
)

// Fetch outcomes: the Status of a source after a fetch, and the bounded
// label values of murmur_crawl_fetches_total.
const (
	StatusOK           = "ok"           // fetched and parsed
	StatusNotModified  = "not_modified" // the server answered 304
	StatusRobots       = "robots_denied"
	StatusRateLimited  = "rate_limited" // 429, or 503 with Retry-After
	StatusHTTPError    = "http_error"   // any other non-2xx answer
	StatusRefused      = "refused"      // a private address, without AllowPrivate
	StatusTimeout      = "timeout"
	StatusTooLarge     = "too_large"
	StatusRedirects    = "too_many_redirects"
	StatusParseError   = "parse_error" // not a feed, outbox or page linking one
	StatusNetworkError = "network_error"
	StatusStoreError   = "store_error" // the node could not store the posts
)

// Statuses lists every fetch outcome, for metrics that start at zero.
var Statuses = []string{StatusOK, StatusNotModified, StatusRobots, StatusRateLimited, StatusHTTPError, StatusRefused,
	StatusTimeout, StatusTooLarge, StatusRedirects, StatusParseError, StatusNetworkError, StatusStoreError}

// ErrPrivateAddress means a fetch would have connected to a loopback,
// private or otherwise non-public address, which the crawler refuses unless
// allowed to (--crawl-allow-private).
var ErrPrivateAddress = errors.New("address is not public; a node fetches private addresses only with --crawl-allow-private")

// FetchError is a failed fetch: its Status (one of the Status constants),
// the HTTP status code if a response came, and how long the server asked us
// to wait.
type FetchError struct {
	Status     string
	HTTP       int
	RetryAfter time.Duration
	Err        error
}

func (e *FetchError) Error() string { return e.Err.Error() }
func (e *FetchError) Unwrap() error { return e.Err }

func fetchErr(status string, format string, args ...any) *FetchError {
	return &FetchError{Status: status, Err: fmt.Errorf(format, args...)}
}

// response is a fetched document.
type response struct {
	url          string // after redirects
	code         int
	contentType  string
	body         []byte
	etag         string
	lastModified string
}

// fetcher makes the crawler's HTTP requests: one client with every safety
// bound, a rate limiter per host and the robots.txt cache.
type fetcher struct {
	cfg    *Config
	client *http.Client

	mu     sync.Mutex
	hosts  map[string]*hostState
	robots map[string]*robotsEntry
}

type hostState struct {
	limiter *rate.Limiter
	lock    chan struct{} // one source fetch per host at a time
	used    time.Time
}

type robotsEntry struct {
	data    *robotstxt.RobotsData
	expires time.Time
}

// maxHosts bounds the per-host tables; idle hosts are forgotten beyond it.
const maxHosts = 4096

func newFetcher(cfg *Config) *fetcher {
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	if !cfg.AllowPrivate {
		dialer.Control = func(network, address string, raw syscall.RawConn) error {
			if cfg.exempt[address] {
				return nil
			}
			return refusePrivate(network, address, raw)
		}
	}
	transport := &http.Transport{
		Proxy:                  nil, // a proxy would hide the address we must check
		DialContext:            dialer.DialContext,
		TLSHandshakeTimeout:    cfg.DialTimeout,
		ResponseHeaderTimeout:  cfg.HeaderTimeout,
		MaxIdleConns:           32,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	f := &fetcher{cfg: cfg, hosts: map[string]*hostState{}, robots: map[string]*robotsEntry{}}
	f.client = &http.Client{
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > cfg.MaxRedirects {
				return fetchErr(StatusRedirects, "more than %d redirects (last to %s)", cfg.MaxRedirects, req.URL)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fetchErr(StatusHTTPError, "redirect to %s: only http and https are fetched", req.URL)
			}
			return f.host(req.URL.Host).limiter.Wait(req.Context())
		},
	}
	return f
}

func (f *fetcher) close() { f.client.CloseIdleConnections() }

// refusePrivate is the dialer's Control hook: it sees the resolved address
// of every connection, so neither a DNS name nor a redirect can reach a
// private address.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, ErrPrivateAddress)
	}
	if !publicAddr(ap.Addr()) {
		return fmt.Errorf("dial %s: %w", address, ErrPrivateAddress)
	}
	return nil
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can reach any IPv4 address
	netip.MustParsePrefix("2001:db8::/32"),
}

// publicAddr reports whether a is a global unicast address outside every
// private, shared and reserved range.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

func (f *fetcher) host(h string) *hostState {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	s := f.hosts[h]
	if s == nil {
		if len(f.hosts) >= maxHosts {
			for k, v := range f.hosts {
				if now.Sub(v.used) > f.cfg.HostInterval*time.Duration(f.cfg.HostBurst) && len(v.lock) == 0 {
					delete(f.hosts, k)
				}
			}
		}
		s = &hostState{limiter: rate.NewLimiter(rate.Every(f.cfg.HostInterval), f.cfg.HostBurst), lock: make(chan struct{}, 1)}
		f.hosts[h] = s
	}
	s.used = now
	return s
}

// lockHost waits until no other source of host h is being fetched.
func (f *fetcher) lockHost(ctx context.Context, h string) (unlock func(), err error) {
	s := f.host(h)
	select {
	case s.lock <- struct{}{}:
		return func() { <-s.lock }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// allowed reports whether robots.txt of u's host lets murmur fetch u.
func (f *fetcher) allowed(ctx context.Context, u *url.URL) (bool, error) {
	key := u.Scheme + "://" + u.Host
	f.mu.Lock()
	e := f.robots[key]
	f.mu.Unlock()
	if e == nil || time.Now().After(e.expires) {
		res, err := f.get(ctx, key+"/robots.txt", "", "", MaxRobotsBody, "text/plain")
		code := 0
		var body []byte
		var fe *FetchError
		switch {
		case err == nil:
			code, body = res.code, res.body
		case errors.As(err, &fe) && fe.HTTP != 0:
			code = fe.HTTP
		default:
			return false, fmt.Errorf("robots.txt: %w", err)
		}
		// 4xx allows everything, 5xx nothing, as RFC 9309 says.
		data, perr := robotstxt.FromStatusAndBytes(code, body)
		if perr != nil {
			data, _ = robotstxt.FromStatusAndBytes(http.StatusNotFound, nil)
		}
		e = &robotsEntry{data: data, expires: time.Now().Add(RobotsTTL)}
		f.mu.Lock()
		if len(f.robots) >= maxHosts {
			clear(f.robots)
		}
		f.robots[key] = e
		f.mu.Unlock()
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	return e.data.TestAgent(path, RobotsAgent), nil
}

// fetch checks robots.txt, then GETs rawURL conditionally.
func (f *fetcher) fetch(ctx context.Context, rawURL, etag, lastModified, accept string) (*response, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fetchErr(StatusParseError, "%q is not an http(s) URL", rawURL)
	}
	ok, err := f.allowed(ctx, u)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fetchErr(StatusRobots, "robots.txt of %s disallows %s for %s", u.Host, u.EscapedPath(), RobotsAgent)
	}
	return f.get(ctx, rawURL, etag, lastModified, f.cfg.MaxBody, accept)
}

// get makes one rate-limited GET with every bound. A non-2xx, non-304
// answer is a *FetchError carrying the code.
func (f *fetcher) get(ctx context.Context, rawURL, etag, lastModified string, maxBody int64, accept string) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fetchErr(StatusParseError, "bad URL %q: %v", rawURL, err)
	}
	if err := f.host(req.URL.Host).limiter.Wait(ctx); err != nil {
		return nil, classify(ctx, rawURL, err)
	}
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Accept", accept)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if lastModified != "" {
		req.Header.Set("If-Modified-Since", lastModified)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, classify(ctx, rawURL, err)
	}
	defer resp.Body.Close()
	res := &response{url: resp.Request.URL.String(), code: resp.StatusCode, contentType: resp.Header.Get("Content-Type"),
		etag: resp.Header.Get("ETag"), lastModified: resp.Header.Get("Last-Modified")}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return res, nil
	case resp.StatusCode == http.StatusTooManyRequests,
		resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
		ra := retryAfter(resp.Header.Get("Retry-After"), time.Now())
		return nil, &FetchError{Status: StatusRateLimited, HTTP: resp.StatusCode, RetryAfter: ra,
			Err: fmt.Errorf("GET %s: %s (retry after %s)", rawURL, resp.Status, ra)}
	case resp.StatusCode/100 != 2:
		return nil, &FetchError{Status: StatusHTTPError, HTTP: resp.StatusCode, Err: fmt.Errorf("GET %s: %s", rawURL, resp.Status)}
	}
	if resp.ContentLength > maxBody {
		return nil, &FetchError{Status: StatusTooLarge, HTTP: resp.StatusCode, Err: fmt.Errorf("GET %s: body of %d bytes is over the limit of %d", rawURL, resp.ContentLength, maxBody)}
	}
	res.body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, classify(ctx, rawURL, err)
	}
	if int64(len(res.body)) > maxBody {
		return nil, &FetchError{Status: StatusTooLarge, HTTP: resp.StatusCode, Err: fmt.Errorf("GET %s: body is over the limit of %d bytes", rawURL, maxBody)}
	}
	return res, nil
}

// classify turns a transport error into a *FetchError, keeping a FetchError
// raised by the redirect check.
func classify(ctx context.Context, rawURL string, err error) error {
	var fe *FetchError
	var ne net.Error
	switch {
	case errors.As(err, &fe):
		return fe
	case errors.Is(err, ErrPrivateAddress):
		return &FetchError{Status: StatusRefused, Err: fmt.Errorf("GET %s: %w", rawURL, ErrPrivateAddress)}
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil,
		errors.As(err, &ne) && ne.Timeout():
		return &FetchError{Status: StatusTimeout, Err: fmt.Errorf("GET %s: timed out: %w", rawURL, err)}
	case errors.Is(err, context.Canceled):
		return err
	}
	return &FetchError{Status: StatusNetworkError, Err: fmt.Errorf("GET %s: %w", rawURL, err)}
}

// retryAfter parses a Retry-After header (seconds or an HTTP date).
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return max(time.Duration(s)*time.Second, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
