// Package web is the page every node serves at its API address: search with
// the full query language, a composer, a page per post and per author, and a
// node page with the node's own figures. Pages are rendered on the server with
// html/template from files embedded in the binary, so everything works with
// JavaScript off; a small script (static/app.js, no build step) adds search as
// you type, "more results" in place, posting without a reload and live charts.
//
// New returns the handler; Patterns lists the routes a node hands to it.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/follows"
	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/livesse"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
)

// Bounds of the web page.
const (
	// MaxFormBody bounds the body of the composer's form POST: a post is at
	// most 4 KB of UTF-8, which form encoding can triple.
	MaxFormBody = 64 << 10
	// PageSearchTimeout bounds one search made for a page (the API allows
	// the SearchTimeout of api/server; one owner answers within
	// netsearch.OwnerTimeout).
	PageSearchTimeout = 10 * time.Second
	// PageSize is how many posts a page of results shows.
	PageSize = 20
	// MaxQueryLen bounds the query text taken from a URL.
	MaxQueryLen = 1000
	// RepliesShown bounds the replies listed under a post.
	RepliesShown = 100
)

// Backend is what the page needs from a node.
type Backend interface {
	Publish(ctx context.Context, d post.Draft) (*post.Post, error)
	Get(ctx context.Context, id string) (*post.Post, error)
	Search(ctx context.Context, req query.Request) (*query.Result, error)
	Status(ctx context.Context) (api.Status, error)
	// Replies returns stored posts that answer id, oldest first.
	Replies(ctx context.Context, id string, limit int) ([]*post.Post, error)
	// Follow returns the posts that match req as they are written, until
	// ctx ends.
	Follow(ctx context.Context, req query.Request) (<-chan query.Hit, error)
	// Follows, AddFollow and RemoveFollow are what the operator follows.
	Follows() follows.List
	// Profiles returns the authors' profiles the node keeps or finds.
	Profiles(ctx context.Context, authors []string) map[string]*post.Profile
	AddFollow(kind, value string) (follows.List, error)
	RemoveFollow(kind, value string) (follows.List, error)
	// Timeline returns a page of the followed authors' and searches'
	// posts, newest first; FollowTimeline the new ones as they come.
	Timeline(ctx context.Context, limit int, cursor string) (*query.Result, error)
	FollowTimeline(ctx context.Context) (hits <-chan query.Hit, live, of int, err error)
}

// Options configures the page. Zero values are the documented defaults.
type Options struct {
	// Metrics is the node's registry; the node page reads its figures from
	// it. Nil leaves the activity charts and the metrics table empty.
	Metrics prometheus.Gatherer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Patterns are the routes a node registers for the page on its mux; every
// other path stays with the API.
var Patterns = []string{
	"GET /{$}",
	"GET /p/{id}",
	"GET /a/{id}",
	"GET /node",
	"GET /static/",
	"POST /post",
	"GET /search.atom",
	"GET /search.rss",
	"GET /search.json",
	"GET /opensearch.xml",
	"GET /live",
	"GET /home",
	"POST /follow",
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Page is the web page's handler.
type Page struct {
	b       Backend
	log     *slog.Logger
	now     func() time.Time
	pages   map[string]*template.Template
	mux     *http.ServeMux
	stats   *sampler
	version string // of the static files, for cache busting
}

// New returns the handler of the web page, serving the routes in Patterns.
func New(b Backend, opts Options) *Page {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Page{b: b, log: opts.Logger, now: opts.Now, pages: map[string]*template.Template{}, version: staticVersion()}
	p.stats = newSampler(opts.Metrics, opts.Now)
	p.stats.sample() // the baseline the first rates are measured against
	base := template.Must(template.New("").Funcs(template.FuncMap{
		"short":    shortID,
		"when":     formatTime,
		"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"bytes":    formatBytes,
		"duration": formatDuration,
		"static":   func(name string) string { return "/static/" + name + "?v=" + p.version },
		"maxChars": func() int { return post.MaxTextChars },
		"add":      func(a, b int) int { return a + b },
		"feeds":    feedLinksOf,
		"unfollow": func(kind, value string) *followView {
			return &followView{Kind: kind, Value: value, Followed: true, Return: "/home"}
		},
	}).ParseFS(templateFS, "templates/layout.html", "templates/parts.html"))
	for _, name := range []string{"home", "post", "author", "node", "error", "timeline"} {
		p.pages[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html"))
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embed pattern above guarantees the folder
	}
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	cop := http.NewCrossOriginProtection()
	p.mux = http.NewServeMux()
	p.mux.HandleFunc("GET /{$}", p.home)
	p.mux.HandleFunc("GET /p/{id}", p.postPage)
	p.mux.HandleFunc("GET /a/{id}", p.authorPage)
	p.mux.HandleFunc("GET /node", p.nodePage)
	for _, f := range feedFormats {
		p.mux.HandleFunc("GET "+f.path, func(w http.ResponseWriter, r *http.Request) { p.feed(w, r, f) })
	}
	p.mux.HandleFunc("GET /opensearch.xml", p.openSearch)
	p.mux.HandleFunc("GET /live", p.live)
	p.mux.HandleFunc("GET /home", p.timeline)
	p.mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") == p.version {
			w.Header().Set("Cache-Control", "public, max-age=86400, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	}))
	// A page on another site must not make this node post (CSRF).
	p.mux.Handle("POST /post", cop.Handler(http.HandlerFunc(p.publish)))
	p.mux.Handle("POST /follow", cop.Handler(http.HandlerFunc(p.follow)))
	return p
}

// ServeHTTP serves the page's routes with the security headers every page
// carries: nothing loads from outside the node.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	p.mux.ServeHTTP(w, r)
}

func staticVersion() string {
	sum := sha256.New()
	_ = fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := staticFS.ReadFile(path)
		sum.Write([]byte(path))
		sum.Write(data)
		return err
	})
	return hex.EncodeToString(sum.Sum(nil))[:12]
}

// fragment reports whether the script asked for a piece of a page rather
// than the whole page.
func fragment(r *http.Request) bool {
	return r.URL.Query().Get("fragment") != "" || r.Header.Get("X-Murmur-Fragment") != ""
}

// render executes a page (or, with block set, one block of it) into a buffer
// first, so a template error becomes a clean 500 rather than half a page.
func (p *Page) render(w http.ResponseWriter, code int, page, block string, data any) {
	t := p.pages[page]
	if block == "" {
		block = "layout"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, data); err != nil {
		p.log.Error("render web page", "page", page, "block", block, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// errorPage shows a plain page with a message and a way back.
func (p *Page) errorPage(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if fragment(r) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(msg))
		return
	}
	p.render(w, code, "error", "", struct {
		Title, Message string
		Code           int
	}{http.StatusText(code), msg, code})
}

// failure maps a backend error onto a status code and a message for people.
func (p *Page) failure(r *http.Request, err error) (int, string) {
	var syn *query.SyntaxError
	var bad *query.RequestError
	var busy *query.BusyError
	switch {
	case errors.As(err, &busy):
		return http.StatusServiceUnavailable, "This node is busy: " + busy.Error() + "."
	case errors.As(err, &syn):
		return http.StatusBadRequest, "The query has a mistake: " + syn.Error()
	case errors.As(err, &bad):
		return http.StatusBadRequest, bad.Error()
	case post.Invalid(err):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, index.ErrNotFound):
		return http.StatusNotFound, "This node has no such post."
	case errors.Is(err, follows.ErrNotFollowed):
		return http.StatusNotFound, "That is not followed (any more)."
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "The search took too long; try fewer or rarer words."
	}
	if r.Context().Err() == nil {
		p.log.Error("web request failed", "path", r.URL.Path, "err", err)
	}
	return http.StatusInternalServerError, "Something went wrong on this node: " + err.Error()
}

// searchView is the data of a page of results.
type searchView struct {
	Q, Sort  string
	Error    string
	Done     bool // a search ran
	Hits     []postView
	Total    uint64
	TookMS   int64
	Shards   api.Shards
	Partial  bool
	Start    int // how many results earlier pages showed
	MoreURL  string
	Scope    string // "search" or "author"
	AuthorID string
	// BestEffort: the query had no word, author or label the network can
	// route by, so it was asked of a bounded number of peers (Shards then
	// counts peers) and may miss posts that none of them holds.
	BestEffort bool
	// Ranking is how the network statistics were gathered (query.Ranking*).
	Ranking string
	// LabelSigners says who signed the page's posts under each label the
	// query asked for with from:.
	LabelSigners []query.LabelSigners
	// LiveURL streams the matches written after the search began, for the
	// script to show (/live); set on a first page.
	LiveURL string
	// Follow is the form that follows (or unfollows) the search or the
	// author; nil where there is none.
	Follow *followView
	// Profile is the author's profile on an author page, if it has one.
	Profile *post.Profile
}

// shardsOf says how many shards answered a search.
func shardsOf(res *query.Result) (partial bool, shards api.Shards) {
	return res.Partial, api.Shards{Asked: res.Shards.Asked, Answered: res.Shards.Answered, Failed: res.Shards.Failed}
}

// search runs req and fills the view; moreBase is the URL "more" extends.
func (p *Page) search(r *http.Request, v *searchView, req query.Request, moreBase url.Values, path string) int {
	ctx, cancel := context.WithTimeout(query.WithCaller(r.Context(), api.CallerOf(r)), PageSearchTimeout)
	defer cancel()
	began := time.Now()
	res, err := p.b.Search(ctx, req)
	if err != nil {
		code, msg := p.failure(r, err)
		v.Error = msg
		return code
	}
	v.Done = true
	if v.Start == 0 && req.Cursor == "" {
		v.LiveURL = "/live?" + url.Values{"q": {req.Q}, "after": {livesse.Since(began)}}.Encode()
	}
	v.Total = res.Total
	v.TookMS = res.Took.Milliseconds()
	v.Partial, v.Shards = shardsOf(res)
	v.BestEffort = res.BestEffort
	v.Ranking = res.Ranking
	v.LabelSigners = res.LabelSigners
	for _, h := range res.Hits {
		v.Hits = append(v.Hits, newPostView(h.Post, h.Matches))
	}
	p.nameAll(ctx, v.Hits)
	if res.NextCursor != "" {
		moreBase.Set("cursor", res.NextCursor)
		moreBase.Set("start", strconv.Itoa(v.Start+len(v.Hits)))
		v.MoreURL = path + "?" + moreBase.Encode()
	}
	return http.StatusOK
}

// startParam reads how many results earlier pages showed (for numbering).
func startParam(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("start"))
	if err != nil || n < 0 || n > 1_000_000 {
		return 0
	}
	return n
}

// homeView is the home page: search and composer.
type homeView struct {
	Search   searchView
	Composer composerView
}

// composerView is a post form, with what was typed and why it was refused.
type composerView struct {
	Text, Lang, ReplyTo, Error string
	Open                       bool
}

func (p *Page) home(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := homeView{Search: searchView{Q: q.Get("q"), Sort: q.Get("sort"), Start: startParam(r), Scope: "search"}}
	if v.Search.Sort != string(query.SortLatest) {
		v.Search.Sort = string(query.SortTop)
	}
	code := http.StatusOK
	switch {
	case len(v.Search.Q) > MaxQueryLen:
		v.Search.Error = fmt.Sprintf("The query is longer than %d bytes; shorten it.", MaxQueryLen)
		code = http.StatusBadRequest
	case strings.TrimSpace(v.Search.Q) != "":
		req := query.Request{Q: v.Search.Q, Sort: query.Sort(v.Search.Sort), Limit: PageSize, Cursor: q.Get("cursor")}
		code = p.search(r, &v.Search, req, url.Values{"q": {v.Search.Q}, "sort": {v.Search.Sort}}, "/")
		if v.Search.Done && v.Search.Start == 0 {
			v.Search.Follow = p.followViewOf(follows.KindSearch, v.Search.Q, "/?"+url.Values{"q": {v.Search.Q}, "sort": {v.Search.Sort}}.Encode())
		}
	default:
		v.Composer.Open = true
	}
	if fragment(r) {
		p.render(w, code, "home", "results", v.Search)
		return
	}
	p.render(w, code, "home", "", v)
}

// authorID matches what from: accepts as one word: a peer ID or a label
// without spaces or query syntax.
var authorID = regexp.MustCompile(`^[\p{L}\p{N}_.\-]{1,200}$`)

func (p *Page) authorPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !authorID.MatchString(id) {
		p.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("%q is not an author ID.", id))
		return
	}
	v := searchView{Q: "from:" + id, Sort: string(query.SortLatest), Start: startParam(r), Scope: "author", AuthorID: id}
	req := query.Request{Q: v.Q, Sort: query.SortLatest, Limit: PageSize, Cursor: r.URL.Query().Get("cursor")}
	code := p.search(r, &v, req, url.Values{}, "/a/"+url.PathEscape(id))
	if v.Done && v.Start == 0 {
		v.Follow = p.followViewOf(follows.KindAuthor, id, "/a/"+url.PathEscape(id))
	}
	if post.LooksLikePeerID(id) {
		v.Profile = p.b.Profiles(r.Context(), []string{id})[id]
	}
	if fragment(r) {
		p.render(w, code, "author", "results", v)
		return
	}
	p.render(w, code, "author", "", v)
}

// postPageView is a post with its signature status, parent and replies.
type postPageView struct {
	Post      postView
	SigOK     bool
	SigError  string
	Parent    *postView
	Replies   []postView
	RepliesOK bool
	Composer  composerView
}

func (p *Page) postPage(w http.ResponseWriter, r *http.Request) {
	p.showPost(w, r, r.PathValue("id"), composerView{}, http.StatusOK)
}

func (p *Page) showPost(w http.ResponseWriter, r *http.Request, id string, c composerView, code int) {
	ctx := r.Context()
	pp, err := p.b.Get(ctx, id)
	if err != nil {
		var del *index.DeletedError
		if errors.As(err, &del) {
			p.errorPage(w, r, http.StatusGone, fmt.Sprintf("This post was deleted by its author on %s.", formatTime(del.Tombstone.CreatedAt)))
			return
		}
		code, msg := p.failure(r, err)
		p.errorPage(w, r, code, msg)
		return
	}
	v := postPageView{Post: newPostView(pp, nil), Composer: c}
	v.Composer.ReplyTo = pp.ID
	v.Composer.Open = true
	if err := pp.Verify(p.now()); err != nil {
		v.SigError = err.Error()
	} else {
		v.SigOK = true
	}
	if pp.ReplyTo != "" {
		if parent, err := p.b.Get(ctx, pp.ReplyTo); err == nil {
			pv := newPostView(parent, nil)
			v.Parent = &pv
		}
	}
	replies, err := p.b.Replies(ctx, pp.ID, RepliesShown)
	if err != nil {
		p.log.Warn("list replies", "post", pp.ID, "err", err)
	} else {
		v.RepliesOK = true
		for _, rp := range replies {
			v.Replies = append(v.Replies, newPostView(rp, nil))
		}
	}
	views := []*postView{&v.Post}
	if v.Parent != nil {
		views = append(views, v.Parent)
	}
	for i := range v.Replies {
		views = append(views, &v.Replies[i])
	}
	p.nameAuthors(ctx, views...)
	p.render(w, code, "post", "", v)
}

// publish takes the composer's form. Without JavaScript it redirects to the
// new post's page (or shows the form again with the error next to the box);
// the script asks for the new post as a fragment to show in place.
func (p *Page) publish(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBody)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("The form is larger than %d bytes; a post holds at most %d characters.", MaxFormBody, post.MaxTextChars))
		return
	}
	// Browsers send a textarea's line breaks as CRLF; a post counts one.
	c := composerView{
		Text:    strings.ReplaceAll(r.PostForm.Get("text"), "\r\n", "\n"),
		Lang:    strings.TrimSpace(r.PostForm.Get("lang")),
		ReplyTo: strings.TrimSpace(r.PostForm.Get("reply_to")),
		Open:    true,
	}
	pp, err := p.b.Publish(r.Context(), post.Draft{Text: c.Text, Lang: c.Lang, ReplyTo: c.ReplyTo})
	if err != nil {
		code, msg := p.failure(r, err)
		if fragment(r) {
			p.errorPage(w, r, code, msg)
			return
		}
		c.Error = msg
		if c.ReplyTo != "" && post.ValidID(c.ReplyTo) {
			p.showPost(w, r, c.ReplyTo, c, code)
			return
		}
		p.render(w, code, "home", "", homeView{Search: searchView{Sort: string(query.SortTop)}, Composer: c})
		return
	}
	if fragment(r) {
		w.Header().Set("Location", "/p/"+pp.ID)
		p.render(w, http.StatusCreated, "home", "newpost", newPostView(pp, nil))
		return
	}
	http.Redirect(w, r, "/p/"+pp.ID, http.StatusSeeOther)
}

// nodeView is the node page.
type nodeView struct {
	Status      api.Status
	StatusError string
	Activity    activityView
	Metrics     []metricRow
	Replication []metricRow
	Crawl       []metricRow
}

// replicationMetric reports whether a metric tells how well the node's keys
// are replicated: placement at their owners, the repair passes that copy
// them to new owners, and the keys still short of their copies.
func replicationMetric(name string) bool {
	for _, prefix := range []string{"murmur_replication_", "murmur_repair_", "murmur_placement_", "murmur_keys_"} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

func (p *Page) nodePage(w http.ResponseWriter, r *http.Request) {
	p.stats.sample()
	var v nodeView
	st, err := p.b.Status(r.Context())
	if err != nil {
		v.StatusError = err.Error()
	}
	v.Status = st
	v.Activity = p.stats.activity()
	if fragment(r) {
		p.render(w, http.StatusOK, "node", "activity", v.Activity)
		return
	}
	v.Metrics = p.stats.table()
	for _, m := range v.Metrics {
		switch {
		case replicationMetric(m.Name):
			v.Replication = append(v.Replication, m)
		case strings.HasPrefix(m.Name, "murmur_crawl"):
			v.Crawl = append(v.Crawl, m)
		}
	}
	p.render(w, http.StatusOK, "node", "", v)
}
