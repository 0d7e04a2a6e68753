package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/query"
)

// Bounds and timing of GET /api/v1/stream.
const (
	// StreamHeartbeat is how often an idle stream gets a comment line, so
	// that proxies keep it open and the client notices a dead node.
	StreamHeartbeat = 15 * time.Second
	// StreamRetry is the reconnection delay the stream asks of clients.
	StreamRetry = 2 * time.Second
	// MaxCatchUp bounds the posts a resumed stream sends from before the
	// reconnection.
	MaxCatchUp = 1000
	// streamWriteTimeout bounds writing one event to a client.
	streamWriteTimeout = 10 * time.Second
)

// EventID is the ID of a stream's event: the post's creation time and ID,
// by which a client that reconnects with Last-Event-ID is sent what was
// written after it.
func EventID(h api.Hit) string {
	return h.CreatedAt.UTC().Format(time.RFC3339Nano) + "/" + h.ID
}

// parseEventID reads an EventID.
func parseEventID(s string) (time.Time, string, error) {
	at, id, ok := strings.Cut(s, "/")
	t, err := time.Parse(time.RFC3339Nano, at)
	if !ok || err != nil || len(id) == 0 || len(id) > 128 {
		return time.Time{}, "", &query.RequestError{Msg: fmt.Sprintf("event ID %q is not one this stream sent (TIME/POST-ID)", s)}
	}
	return t, id, nil
}

// newer reports whether h may have been written after the event (t, id):
// one of the same millisecond is sent again rather than lost.
func newer(h api.Hit, t time.Time, id string) bool {
	return h.CreatedAt.After(t) || h.CreatedAt.Equal(t) && h.ID != id
}

// stream serves a live search as Server-Sent Events: a post event for
// each new match, with the JSON of a search hit; after a reconnection
// (Last-Event-ID, or after= for clients that cannot set the header) the
// matches written since that event come first, oldest first.
func (h *handler) stream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := query.Request{Q: q.Get("q"), Lang: q.Get("lang"), Since: q.Get("since"), Until: q.Get("until")}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("after")
	}
	var lastAt time.Time
	var lastID string
	if last != "" {
		var err error
		if lastAt, lastID, err = parseEventID(last); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	ctx, cancel := context.WithCancel(query.WithCaller(r.Context(), api.CallerOf(r)))
	defer cancel()
	// Follow first, so nothing written during the catch-up is missed.
	hits, err := h.b.Follow(ctx, req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(s string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := io.WriteString(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	send := func(hit api.Hit) bool {
		data, err := json.Marshal(hit)
		if err != nil {
			return true // cannot happen: a hit encodes
		}
		return write("id: " + EventID(hit) + "\nevent: post\ndata: " + string(data) + "\n\n")
	}
	if !write(fmt.Sprintf("retry: %d\n\n", StreamRetry.Milliseconds())) {
		return
	}
	sent := map[string]bool{}
	if last != "" {
		missed, err := h.catchUp(ctx, req, lastAt, lastID)
		if err != nil {
			msg, _ := json.Marshal(api.ErrorResponse{Error: "some posts written since " + last + " could not be fetched: " + err.Error()})
			if !write("event: error\ndata: " + string(msg) + "\n\n") {
				return
			}
		}
		for i := len(missed) - 1; i >= 0; i-- {
			sent[missed[i].ID] = true
			if !send(missed[i]) {
				return
			}
		}
	}
	beat := time.NewTicker(StreamHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case hit, ok := <-hits:
			if !ok {
				return
			}
			a := hitOf(hit)
			if sent[a.ID] {
				continue
			}
			if !send(a) {
				return
			}
			beat.Reset(StreamHeartbeat)
		case <-beat.C:
			if !write(": heartbeat\n\n") {
				return
			}
		}
	}
}

// catchUp returns the matches of req written after the event (t, id),
// newest first, at most MaxCatchUp.
func (h *handler) catchUp(ctx context.Context, req query.Request, t time.Time, id string) ([]api.Hit, error) {
	req.Sort = query.SortLatest
	req.Limit = query.MaxLimit
	var out []api.Hit
	for len(out) < MaxCatchUp {
		sctx, cancel := context.WithTimeout(ctx, SearchTimeout)
		res, err := h.b.Search(sctx, req)
		cancel()
		if err != nil {
			return out, err
		}
		for _, hit := range res.Hits {
			a := hitOf(hit)
			if !newer(a, t, id) {
				return out, nil
			}
			out = append(out, a)
		}
		if res.NextCursor == "" {
			return out, nil
		}
		req.Cursor = res.NextCursor
	}
	return out, nil
}
