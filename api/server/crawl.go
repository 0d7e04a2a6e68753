package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/murmur-p2p/murmur/crawl"

	"github.com/murmur-p2p/murmur/api"
)

// Bounds of the crawl routes.
const (
	// MaxCrawlBody bounds the body of the crawl POST routes.
	MaxCrawlBody = 8 << 10
	// CrawlRunTimeout bounds POST /api/v1/crawl/run: a fetch follows at most
	// a discovery hop and a few outbox pages, each bounded by the crawler.
	CrawlRunTimeout = 5 * time.Minute
)

// CrawlPrefix is the path under which the crawl routes live; the node hands
// it to NewCrawlHandler.
const CrawlPrefix = "/api/v1/crawl/"

// CrawlBackend is what the crawl routes serve: a node's crawler.
type CrawlBackend interface {
	Sources(ctx context.Context) ([]crawl.Source, error)
	Add(ctx context.Context, url string) (crawl.Source, error)
	Remove(ctx context.Context, url string) error
	Fetch(ctx context.Context, url string) (crawl.Summary, error)
}

// NewCrawlHandler serves the crawl routes under CrawlPrefix:
//
//	GET    /api/v1/crawl/sources          the sources with their state
//	POST   /api/v1/crawl/sources {"url"}  add a source (201)
//	DELETE /api/v1/crawl/sources?url=...  remove a source
//	POST   /api/v1/crawl/run {"url"}      fetch a source now; the summary
//
// b may be nil: the node does not crawl, and every route says how to turn
// crawling on.
func NewCrawlHandler(b CrawlBackend, m *Metrics, log *slog.Logger) http.Handler {
	h := &handler{m: m, log: log}
	c := &crawlHandler{b: b, h: h}
	mux := http.NewServeMux()
	route := func(pattern, name string, f http.HandlerFunc) {
		mux.Handle(pattern, h.instrument(name, c.enabled(f)))
	}
	route("GET /api/v1/crawl/sources", "crawl_list", c.list)
	route("POST /api/v1/crawl/sources", "crawl_add", c.add)
	route("DELETE /api/v1/crawl/sources", "crawl_remove", c.remove)
	route("POST /api/v1/crawl/run", "crawl_run", c.run)
	route(CrawlPrefix, "unknown", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no API route "+r.Method+" "+r.URL.Path)
	})
	return mux
}

type crawlHandler struct {
	b CrawlBackend
	h *handler
}

func (c *crawlHandler) enabled(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.b == nil {
			writeError(w, http.StatusConflict, "this node does not crawl; restart it with 'murmur node --crawl'")
			return
		}
		f(w, r)
	}
}

func (c *crawlHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, crawl.ErrBadURL):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, crawl.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, crawl.ErrExists), errors.Is(err, crawl.ErrTooMany):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, crawl.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "the node is stopping")
	default:
		c.h.fail(w, r, err)
	}
}

// readURL reads {"url": "..."} from the body.
func readURL(w http.ResponseWriter, r *http.Request) (string, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxCrawlBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "body must be a small JSON object {\"url\": \"...\"}")
		return "", false
	}
	var req api.CrawlRequest
	if err := json.Unmarshal(body, &req); err != nil || req.URL == "" {
		writeError(w, http.StatusBadRequest, `body must be a JSON object {"url": "https://..."}`)
		return "", false
	}
	return req.URL, true
}

func (c *crawlHandler) list(w http.ResponseWriter, r *http.Request) {
	list, err := c.b.Sources(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if list == nil {
		list = []api.CrawlSource{} // "sources": [], not null
	}
	writeJSON(w, http.StatusOK, api.CrawlSources{Sources: list})
}

func (c *crawlHandler) add(w http.ResponseWriter, r *http.Request) {
	u, ok := readURL(w, r)
	if !ok {
		return
	}
	s, err := c.b.Add(r.Context(), u)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s)
}

func (c *crawlHandler) remove(w http.ResponseWriter, r *http.Request) {
	u := r.URL.Query().Get("url")
	if u == "" {
		writeError(w, http.StatusBadRequest, "give the source as ?url=...")
		return
	}
	if err := c.b.Remove(r.Context(), u); err != nil {
		c.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (c *crawlHandler) run(w http.ResponseWriter, r *http.Request) {
	u, ok := readURL(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), CrawlRunTimeout)
	defer cancel()
	sum, err := c.b.Fetch(ctx, u)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}
