package server

import (
	"encoding/json"
	"fmt"
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
	req, last := livesse.RequestOf(r)
	h.serveStream(w, r, h.b, req, last, nil)
}

// timelineStream serves the timeline live as Server-Sent Events, like
// /api/v1/stream.
func (h *handler) timelineStream(w http.ResponseWriter, r *http.Request) {
	_, last := livesse.RequestOf(r)
	src := &livesse.Timeline{Page: h.b.Timeline, FollowAll: h.b.FollowTimeline}
	h.serveStream(w, r, src, query.Request{}, last, func() {
		w.Header().Set("X-Murmur-Live", fmt.Sprintf("%d of %d", src.Live, src.Of))
	})
}

// serveStream follows req on src and serves it with hits and errors as
// the API's JSON; opened, if set, runs once the stream is open, before
// the answer starts.
func (h *handler) serveStream(w http.ResponseWriter, r *http.Request, src livesse.Source, req query.Request, last string, opened func()) {
	ctx := query.WithCaller(r.Context(), api.CallerOf(r))
	s, err := livesse.Open(ctx, src, req, last)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if opened != nil {
		opened()
	}
	s.Serve(ctx, w, "post", func(hit query.Hit) string {
		data, _ := json.Marshal(hitOf(hit)) // a hit encodes
		return string(data)
	}, func(msg string) string {
		data, _ := json.Marshal(api.ErrorResponse{Error: msg})
		return string(data)
	})
}
