// Package server serves murmur's HTTP API (/api/v1, its JSON types are in
// package api) from a Backend: authentication, the Host rule, admission,
// timeouts and the mapping of domain errors onto status codes.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/murmur-p2p/murmur/follows"
	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"

	"github.com/murmur-p2p/murmur/api"
)

// Bounds of the HTTP API.
const (
	// MaxPostBody bounds the body of POST /api/v1/posts.
	MaxPostBody = 64 << 10
	// SearchTimeout bounds one search request.
	SearchTimeout = 30 * time.Second
)

// Backend is what the API serves: a node.
type Backend interface {
	Publish(ctx context.Context, d post.Draft) (*post.Post, error)
	Import(ctx context.Context, r io.Reader, opts api.ImportOptions, progress func(api.ImportResult)) (api.ImportResult, error)
	Get(ctx context.Context, id string) (*post.Post, error)
	Delete(ctx context.Context, id string) (*post.Tombstone, error)
	Search(ctx context.Context, req query.Request) (*query.Result, error)
	// Follow returns the posts that match req as they are written, until
	// ctx ends.
	Follow(ctx context.Context, req query.Request) (<-chan query.Hit, error)
	// SetProfile signs and places the node's profile; Profile and
	// Profiles return authors' profiles (index.ErrNotFound for none).
	SetProfile(ctx context.Context, name, bio string) (*post.Profile, error)
	Profile(ctx context.Context, author string) (*post.Profile, error)
	Profiles(ctx context.Context, authors []string) map[string]*post.Profile
	Follows() follows.List
	AddFollow(kind, value string) (follows.List, error)
	RemoveFollow(kind, value string) (follows.List, error)
	// Timeline returns a page of the followed authors' and searches'
	// posts, newest first.
	Timeline(ctx context.Context, limit int, cursor string) (*query.Result, error)
	// FollowTimeline returns the timeline's posts as they are written;
	// live of the follows are followed live.
	FollowTimeline(ctx context.Context) (hits <-chan query.Hit, live, of int, err error)
	Status(ctx context.Context) (api.Status, error)
	Ready() bool
}

// NewHandler returns the HTTP handler of the API, /metrics, /livez and /readyz.
func NewHandler(b Backend, m *Metrics, log *slog.Logger) http.Handler {
	h := &handler{b: b, m: m, log: log}
	mux := http.NewServeMux()
	route := func(pattern, name string, f http.HandlerFunc) {
		mux.Handle(pattern, h.instrument(name, f))
	}
	route("POST /api/v1/posts", "posts_create", h.createPost)
	route("GET /api/v1/posts/{id}", "posts_get", h.getPost)
	route("DELETE /api/v1/posts/{id}", "posts_delete", h.deletePost)
	route("POST /api/v1/import", "import", h.importPosts)
	route("GET /api/v1/search", "search", h.search)
	route("GET /api/v1/stream", "stream", h.stream)
	route("PUT /api/v1/profile", "profile_set", h.setProfile)
	route("GET /api/v1/profiles/{author}", "profile_get", h.getProfile)
	route("GET /api/v1/follows", "follows_get", h.getFollows)
	route("POST /api/v1/follows", "follows_add", h.addFollow)
	route("DELETE /api/v1/follows", "follows_remove", h.removeFollow)
	route("GET /api/v1/timeline", "timeline", h.timeline)
	route("GET /api/v1/timeline/stream", "timeline_stream", h.timelineStream)
	route("GET /api/v1/status", "status", h.status)
	route("GET /livez", "livez", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	route("GET /readyz", "readyz", h.readyz)
	mux.Handle("GET /metrics", m.handler())
	route("/api/", "unknown", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no API route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

type handler struct {
	b   Backend
	m   *Metrics
	log *slog.Logger
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// instrument counts requests by route and status class and turns a panic into
// a 500, so one bad request cannot take the node down.
func (h *handler) instrument(name string, f http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				h.log.Error("API handler panicked", "route", name, "panic", p)
				if rec.code == 0 {
					writeError(rec, http.StatusInternalServerError, "internal error")
				}
			}
			code := rec.code
			if code == 0 {
				code = http.StatusOK
			}
			h.m.httpRequests.WithLabelValues(name, strconv.Itoa(code/100)+"xx").Inc()
		}()
		w.Header().Set("X-Content-Type-Options", "nosniff")
		f(rec, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, api.ErrorResponse{Error: msg})
}

// fail maps a Backend error onto a status code and a message that says what to do.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var del *index.DeletedError
	var syn *query.SyntaxError
	var bad *query.RequestError
	var busy *query.BusyError
	switch {
	case errors.As(err, &busy):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, busy.Error())
	case errors.As(err, &syn):
		writeError(w, http.StatusBadRequest, "query: "+syn.Error())
	case errors.As(err, &bad):
		writeError(w, http.StatusBadRequest, bad.Error())
	case post.Invalid(err):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.As(err, &del):
		writeJSON(w, http.StatusGone, struct {
			Error     string          `json:"error"`
			Tombstone *post.Tombstone `json:"tombstone"`
		}{del.Error(), del.Tombstone})
	case errors.Is(err, index.ErrNotFound), errors.Is(err, follows.ErrNotFollowed):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, post.ErrNotAuthor):
		writeError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, index.ErrDiskFull):
		writeError(w, http.StatusInsufficientStorage, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, "timed out: "+err.Error())
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads an answer.
	default:
		h.log.Error("API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func (h *handler) createPost(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPostBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", MaxPostBody))
			return
		}
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	// encoding/json would silently turn invalid UTF-8 into U+FFFD.
	if !utf8.Valid(body) {
		writeError(w, http.StatusBadRequest, post.ErrInvalidUTF8.Error())
		return
	}
	var req api.PostRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `body must be a JSON object {"text": "...", "reply_to": "...", "lang": "..."}: `+err.Error())
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "body must hold exactly one JSON object")
		return
	}
	p, err := h.b.Publish(r.Context(), post.Draft{Text: req.Text, ReplyTo: req.ReplyTo, Lang: req.Lang})
	// A post stored here but short of its write quorum comes with an error
	// that lists the short keys (p2p.ShortError).
	var short interface{ ShortKeys() []string }
	if p != nil && errors.As(err, &short) {
		w.Header().Set("Location", "/api/v1/posts/"+p.ID)
		writeJSON(w, http.StatusAccepted, api.PostResponse{Post: p, ShortKeys: short.ShortKeys(), Warning: err.Error()})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/posts/"+p.ID)
	writeJSON(w, http.StatusCreated, p)
}

func (h *handler) getPost(w http.ResponseWriter, r *http.Request) {
	p, err := h.b.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (h *handler) deletePost(w http.ResponseWriter, r *http.Request) {
	t, err := h.b.Delete(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// importPosts streams a JSON Lines body of any size into the node. The answer
// comes once every accepted post is persisted.
func (h *handler) importPosts(w http.ResponseWriter, r *http.Request) {
	var opts api.ImportOptions
	if s := r.URL.Query().Get("undated_time"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("undated_time %q is not an RFC 3339 time such as 2006-01-02T15:04:05Z", s))
			return
		}
		opts.UndatedTime = t
	}
	stalled := letFlow(w, r)
	res, err := h.b.Import(r.Context(), r.Body, opts, nil)
	if err != nil {
		if wait := stalled(); wait > 0 {
			// The client is there but stopped sending: say so, with what
			// is stored, rather than an empty answer.
			writeJSON(w, http.StatusRequestTimeout, struct {
				Error string `json:"error"`
				api.ImportResult
			}{fmt.Sprintf("import stopped after line %d: the body stalled for %v; the %d posts counted as accepted are stored", res.Lines, wait, res.Accepted), res})
			return
		}
		if r.Context().Err() != nil {
			return // the client went away
		}
		code := http.StatusInternalServerError
		if errors.Is(err, index.ErrDiskFull) {
			code = http.StatusInsufficientStorage
		}
		h.log.Error("import failed", "lines", res.Lines, "accepted", res.Accepted, "err", err)
		writeJSON(w, code, struct {
			Error string `json:"error"`
			api.ImportResult
		}{fmt.Sprintf("import stopped at line %d: %v; the %d posts counted as accepted are stored", res.Lines, err, res.Accepted), res})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *handler) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := query.Request{
		Q:      q.Get("q"),
		Sort:   query.Sort(q.Get("sort")),
		Cursor: q.Get("cursor"),
		Lang:   q.Get("lang"),
		Since:  q.Get("since"),
		Until:  q.Get("until"),
	}
	var ok bool
	if req.Limit, ok = limitOf(w, q.Get("limit")); !ok {
		return
	}
	switch scope := q.Get("scope"); scope {
	case "", query.ScopeNetwork, query.ScopeLocal:
		req.Scope = scope
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("scope %q is unknown; use network or local", scope))
		return
	}
	ctx, cancel := context.WithTimeout(query.WithCaller(r.Context(), api.CallerOf(r)), SearchTimeout)
	defer cancel()
	res, err := h.b.Search(ctx, req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.responseOf(ctx, res))
}

// limitOf reads a limit parameter, 0 when absent; a bad one is answered
// 400 and ok is false.
func limitOf(w http.ResponseWriter, s string) (limit int, ok bool) {
	if s == "" {
		return 0, true
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q is not a number; use 1 to %d", s, query.MaxLimit))
		return 0, false
	}
	return n, true
}

// responseOf is a search's result (a search's or a timeline's page) as the
// API sends it, with the hits' author names.
func (h *handler) responseOf(ctx context.Context, res *query.Result) api.SearchResponse {
	out := api.SearchResponse{
		Hits:       make([]api.Hit, 0, len(res.Hits)),
		Total:      res.Total,
		Partial:    res.Partial,
		BestEffort: res.BestEffort,
		Shards:     api.Shards{Asked: res.Shards.Asked, Answered: res.Shards.Answered, Failed: res.Shards.Failed},
		TookMS:     res.Took.Milliseconds(),
		NextCursor: res.NextCursor,
		Scope:      res.Scope,
		Ranking:    res.Ranking,
	}
	for _, ls := range res.LabelSigners {
		l := api.LabelSigners{Label: ls.Label, Signers: []api.SignerPosts{}}
		for _, s := range ls.Signers {
			l.Signers = append(l.Signers, api.SignerPosts{Signer: s.Signer, Posts: s.Posts})
		}
		out.LabelSigners = append(out.LabelSigners, l)
	}
	for _, hit := range res.Hits {
		out.Hits = append(out.Hits, hitOf(hit))
	}
	h.nameAuthors(ctx, out.Hits)
	return out
}

// nameAuthors sets the hits' author names from their profiles.
func (h *handler) nameAuthors(ctx context.Context, hits []api.Hit) {
	var authors []string
	for _, hit := range hits {
		authors = append(authors, hit.Author)
	}
	names := h.b.Profiles(ctx, authors)
	for i := range hits {
		if p := names[hits[i].Author]; p != nil {
			hits[i].AuthorName = p.Name
		}
	}
}

// hitOf is a search hit as the API sends it.
func hitOf(hit query.Hit) api.Hit {
	p := hit.Post
	var m [][2]int
	for _, s := range hit.Matches {
		m = append(m, [2]int{s.Start, s.End})
	}
	return api.Hit{ID: p.ID, Author: p.Author, Label: p.Label, Text: p.Text, CreatedAt: p.CreatedAt,
		Lang: p.Lang, ReplyTo: p.ReplyTo, Source: p.Source, Score: hit.Score, Matches: m, Sig: p.Sig}
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	s, err := h.b.Status(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

// readyNotes is a Backend with something to add to /readyz: a node that
// recovered from a damaged index.
type readyNotes interface{ ReadyNotes() []string }

func (h *handler) readyz(w http.ResponseWriter, _ *http.Request) {
	if !h.b.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "not ready\n")
		return
	}
	io.WriteString(w, "ok\n")
	if rn, ok := h.b.(readyNotes); ok {
		for _, s := range rn.ReadyNotes() {
			io.WriteString(w, s+"\n")
		}
	}
}
