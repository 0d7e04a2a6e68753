package server

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/murmur-p2p/murmur/metrics"

	"github.com/murmur-p2p/murmur/api"
)

// TokenCookie is the cookie in which a browser keeps the API token once it
// opened a page of the node with ?token=TOKEN.
const TokenCookie = "murmur_token"

// GuardConfig configures Guard.
type GuardConfig struct {
	// Token is the node's API token; required.
	Token string
	// Auth is which requests from other machines need the token (default
	// api.AuthWrites).
	Auth api.AuthMode
	// Hosts are the names, NAME or NAME:PORT, that requests may use in
	// their Host header besides localhost and IP addresses: the names the
	// API is reached by (a DNS name, a compose service name). A name
	// without a port matches any port.
	Hosts []string
	// Metrics counts refusals; nil counts nothing.
	Metrics *Metrics
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Guard wraps the node's HTTP handler (API, web page, metrics) with the
// rules of who may use it:
//
//   - the Host header must be localhost, an IP address or one of
//     cfg.Hosts, so a web page whose DNS name rebinds to this node cannot
//     reach it;
//   - no request from another site may change state (http.CrossOriginProtection),
//     and an API request with a body must send it as JSON, which a page on
//     another site cannot do without the node's consent;
//   - a request from another machine must carry the token (Authorization:
//     Bearer TOKEN, or the TokenCookie) to change state, and to read too
//     under api.AuthAll. A request through a proxy (Forwarded, X-Forwarded-For
//     or X-Real-IP) counts as from another machine.
//
// /livez and /readyz are open to anyone, so health checks need nothing.
// Opening any page (not /api/) with ?token=TOKEN keeps the token in the
// browser's TokenCookie and redirects to the page without it.
func Guard(next http.Handler, cfg GuardConfig) (http.Handler, error) {
	if cfg.Token == "" {
		return nil, errors.New("api: the guard needs a token")
	}
	auth, err := api.ParseAuthMode(string(cfg.Auth))
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	g := &guard{next: next, token: cfg.Token, auth: auth, m: cfg.Metrics, log: cfg.Logger, cop: http.NewCrossOriginProtection()}
	for _, h := range cfg.Hosts {
		name, port, err := api.ParseHostName(h)
		if err != nil {
			return nil, err
		}
		g.names = append(g.names, hostName{name, port})
	}
	return g, nil
}

type hostName struct{ name, port string }

type guard struct {
	next  http.Handler
	token string
	auth  api.AuthMode
	names []hostName
	m     *Metrics
	log   *slog.Logger
	cop   *http.CrossOriginProtection
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/livez" || r.URL.Path == "/readyz" {
		g.next.ServeHTTP(w, r)
		return
	}
	if !g.hostAllowed(r.Host) {
		g.refuse(w, r, http.StatusMisdirectedRequest, metrics.RefusedHost, fmt.Sprintf(
			"this node does not answer to the name %q (a web page on another site may have made your browser send this); "+
				"to reach the node by that name, start it with --api-host %s", r.Host, hostOnly(r.Host)))
		return
	}
	if err := g.cop.Check(r); err != nil {
		g.refuse(w, r, http.StatusForbidden, metrics.RefusedCrossOrigin,
			"a page on another site may not change this node's state: "+err.Error())
		return
	}
	if g.tokenLogin(w, r) {
		return
	}
	write := !safeMethod(r.Method)
	if (write || g.auth == api.AuthAll) && !fromLoopback(r) && !g.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="murmur"`)
		what := "changes"
		if !write {
			what = "every request"
		}
		g.refuse(w, r, http.StatusUnauthorized, metrics.RefusedToken, fmt.Sprintf(
			"this node needs its API token for %s from other machines: send 'Authorization: Bearer TOKEN' "+
				"(the CLI reads it from $%s or from the node's --data DIR); in a browser, open %s once. "+
				"TOKEN is in %s in the node's data directory; 'murmur token' on the node's machine prints it",
			what, api.TokenEnv, loginURL(r), api.TokenFile))
		return
	}
	if write && strings.HasPrefix(r.URL.Path, "/api/") && r.Method != http.MethodDelete && !jsonBody(r) {
		g.refuse(w, r, http.StatusUnsupportedMediaType, metrics.RefusedContentType, fmt.Sprintf(
			"send the body as JSON, with Content-Type: application/json (or application/x-ndjson for an import), not %q; with curl: -H 'Content-Type: application/json'",
			r.Header.Get("Content-Type")))
		return
	}
	g.next.ServeHTTP(w, r)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// hostAllowed applies the Host rule. Only a name can be rebound by DNS to
// this node: an IP address in Host means the browser connected to that
// address, which reaches this node only if it is this node's (directly or
// through a published port), so any IP address passes, on any port.
func (g *guard) hostAllowed(host string) bool {
	name, port := host, ""
	if h, p, err := net.SplitHostPort(host); err == nil {
		name, port = h, p
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if name == "" {
		return false
	}
	if _, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")); err == nil {
		return true
	}
	if name == "localhost" {
		return true
	}
	for _, n := range g.names {
		if n.name == name && (n.port == "" || n.port == port) {
			return true
		}
	}
	return false
}

// hostOnly is the name part of a Host header, for the advice to --api-host.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// fromLoopback reports whether r came from this machine and not through a
// proxy on it, which would make every client look local.
func fromLoopback(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return false
	}
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"} {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	return true
}

// authorized reports whether r carries the token, as a bearer token or in
// the TokenCookie.
func (g *guard) authorized(r *http.Request) bool {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		return ok && strings.EqualFold(scheme, "Bearer") && g.matches(strings.TrimSpace(tok))
	}
	if c, err := r.Cookie(TokenCookie); err == nil {
		return g.matches(c.Value)
	}
	return false
}

func (g *guard) matches(tok string) bool {
	return len(tok) <= api.MaxTokenLen && subtle.ConstantTimeCompare([]byte(tok), []byte(g.token)) == 1
}

// tokenLogin handles a page opened with ?token=TOKEN: with the right token
// it keeps it in the TokenCookie and redirects to the page without it. It
// reports whether it answered the request.
func (g *guard) tokenLogin(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet || strings.HasPrefix(r.URL.Path, "/api/") || !r.URL.Query().Has("token") {
		return false
	}
	q := r.URL.Query()
	if !g.matches(q.Get("token")) {
		g.refuse(w, r, http.StatusUnauthorized, metrics.RefusedToken,
			"that is not this node's API token; 'murmur token' on the node's machine prints it")
		return true
	}
	http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: g.token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	q.Del("token")
	to := r.URL.Path
	if strings.HasPrefix(to, "//") || !strings.HasPrefix(to, "/") {
		to = "/" // never a redirect to another host
	}
	if len(q) > 0 {
		to += "?" + q.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusSeeOther)
	return true
}

// loginURL is the address that hands a browser the token for r's node.
func loginURL(r *http.Request) string {
	u := url.URL{Scheme: "http", Host: r.Host, Path: "/", RawQuery: "token=TOKEN"}
	if r.TLS != nil {
		u.Scheme = "https"
	}
	return u.String()
}

// jsonBody reports whether r declares a JSON body (or JSON Lines). A page on
// another site can send a form or text/plain without asking; JSON it cannot.
func jsonBody(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return false
	}
	switch mt {
	case "application/json", "application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines":
		return true
	}
	return strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// refuse answers a refused request: JSON under /api/, plain text elsewhere
// (the web page shows it as is).
func (g *guard) refuse(w http.ResponseWriter, r *http.Request, code int, reason, msg string) {
	g.m.refuse(reason)
	g.log.Debug("API request refused", "reason", reason, "method", r.Method, "path", r.URL.Path, "host", r.Host, "remote", r.RemoteAddr)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeError(w, code, msg)
		return
	}
	http.Error(w, msg, code)
}
