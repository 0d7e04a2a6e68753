package server

import (
	"encoding/json"
	"net/http"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/internal/livesse"
	"github.com/murmur-p2p/murmur/query"
)

// stream serves a live search as Server-Sent Events (livesse): a post
// event for each new match, with the JSON of a search hit; after a
// reconnection (Last-Event-ID, or after= for clients that cannot set the
// header) the matches written since that event come first, oldest first.
func (h *handler) stream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := query.Request{Q: q.Get("q"), Lang: q.Get("lang"), Since: q.Get("since"), Until: q.Get("until")}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("after")
	}
	ctx := query.WithCaller(r.Context(), api.CallerOf(r))
	s, err := livesse.Open(ctx, h.b, req, last)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	s.Serve(ctx, w, "post", func(hit query.Hit) string {
		data, _ := json.Marshal(hitOf(hit)) // a hit encodes
		return string(data)
	}, func(msg string) string {
		data, _ := json.Marshal(api.ErrorResponse{Error: msg})
		return string(data)
	})
}
