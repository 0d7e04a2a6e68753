// Package livesse serves a live search as Server-Sent Events, for the API
// (hits as JSON) and the web page (hits as HTML) alike: heartbeats, event
// IDs by which a client that reconnects is sent what it missed, and the
// bounds of a long-lived response.
package livesse

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
)

// Bounds and timing of a stream.
const (
	// Heartbeat is how often an idle stream gets a comment line, so that
	// proxies keep it open and the client notices a dead node.
	Heartbeat = 15 * time.Second
	// Retry is the reconnection delay a stream asks of clients.
	Retry = 2 * time.Second
	// MaxCatchUp bounds the posts a resumed stream sends from before the
	// reconnection.
	MaxCatchUp = 1000
	// SearchTimeout bounds each search of a resumed stream's catch-up.
	SearchTimeout = 30 * time.Second
	// writeTimeout bounds writing one event to a client.
	writeTimeout = 10 * time.Second
)

// Source is what a stream reads: a node.
type Source interface {
	Search(ctx context.Context, req query.Request) (*query.Result, error)
	// Follow returns the new matches of req, once a post stored from then
	// on reaches them (the owners keep the live search).
	Follow(ctx context.Context, req query.Request) (<-chan query.Hit, error)
}

// EventID is the ID of a post's event: its creation time and ID, by which
// a client that reconnects with Last-Event-ID is sent what was written
// after it.
func EventID(p *post.Post) string {
	return p.CreatedAt.UTC().Format(time.RFC3339Nano) + "/" + p.ID
}

// Since is an EventID that resumes after everything written before t
// (api.EventSince).
func Since(t time.Time) string { return api.EventSince(t) }

// RequestOf reads a stream request: the query and its filters (q, lang,
// since, until), and the event to resume after, from Last-Event-ID or, for
// clients that cannot set the header, after=.
func RequestOf(r *http.Request) (req query.Request, last string) {
	q := r.URL.Query()
	req = query.Request{Q: q.Get("q"), Lang: q.Get("lang"), Since: q.Get("since"), Until: q.Get("until")}
	last = r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("after")
	}
	return req, last
}

// Stream is a live search ready to be served.
type Stream struct {
	src    Source
	req    query.Request
	hits   <-chan query.Hit
	last   string
	lastAt time.Time
	lastID string
}

// Open follows req on src until ctx ends. last is the Last-Event-ID a
// client sent, or empty. Bad input yields a *query.RequestError or
// *query.SyntaxError, as a search's would.
func Open(ctx context.Context, src Source, req query.Request, last string) (*Stream, error) {
	s := &Stream{src: src, req: req, last: last}
	if last != "" {
		at, id, ok := strings.Cut(last, "/")
		t, err := time.Parse(time.RFC3339Nano, at)
		if !ok || err != nil || len(id) == 0 || len(id) > 128 {
			return nil, &query.RequestError{Msg: fmt.Sprintf("event ID %q is not one this stream sent (TIME/POST-ID)", last)}
		}
		s.lastAt, s.lastID = t, id
	}
	// Follow first, so that nothing written during the catch-up is missed:
	// the source returns once the owners keep the live search.
	hits, err := src.Follow(ctx, req)
	if err != nil {
		return nil, err
	}
	s.hits = hits
	return s, nil
}

// Serve writes the stream to w until ctx ends or the client goes: after a
// reconnection the matches written since the last event, oldest first,
// then each new match, as events of type event with render's data (which
// may hold newlines). A catch-up that fails is told in an error event
// whose data is errorData's.
func (s *Stream) Serve(ctx context.Context, w http.ResponseWriter, event string, render func(query.Hit) string, errorData func(string) string) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(s string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := io.WriteString(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	send := func(id, name, data string) bool {
		var b strings.Builder
		if id != "" {
			b.WriteString("id: " + id + "\n")
		}
		b.WriteString("event: " + name + "\n")
		for line := range strings.SplitSeq(data, "\n") {
			b.WriteString("data: " + strings.TrimSuffix(line, "\r") + "\n")
		}
		b.WriteString("\n")
		return write(b.String())
	}
	if !write(fmt.Sprintf("retry: %d\n\n", Retry.Milliseconds())) {
		return
	}
	sent := map[string]bool{}
	if s.last != "" {
		missed, err := s.catchUp(ctx)
		if err != nil && !send("", "error", errorData("some posts written since "+s.last+" could not be fetched: "+err.Error())) {
			return
		}
		for i := len(missed) - 1; i >= 0; i-- {
			sent[missed[i].Post.ID] = true
			if !send(EventID(missed[i].Post), event, render(missed[i])) {
				return
			}
		}
	}
	beat := time.NewTicker(Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case hit, ok := <-s.hits:
			if !ok {
				return
			}
			if sent[hit.Post.ID] {
				continue
			}
			if !send(EventID(hit.Post), event, render(hit)) {
				return
			}
			beat.Reset(Heartbeat)
		case <-beat.C:
			if !write(": heartbeat\n\n") {
				return
			}
		}
	}
}

// catchUp returns the matches written after the last event, newest first,
// at most MaxCatchUp. One of the same millisecond as the last event is
// sent again rather than lost.
func (s *Stream) catchUp(ctx context.Context) ([]query.Hit, error) {
	req := s.req
	req.Sort = query.SortLatest
	req.Limit = query.MaxLimit
	var out []query.Hit
	for len(out) < MaxCatchUp {
		sctx, cancel := context.WithTimeout(ctx, SearchTimeout)
		res, err := s.src.Search(sctx, req)
		cancel()
		if err != nil {
			return out, err
		}
		for _, h := range res.Hits {
			at := h.Post.CreatedAt
			switch {
			case at.Before(s.lastAt):
				return out, nil
			case at.Equal(s.lastAt) && h.Post.ID == s.lastID:
				continue
			}
			out = append(out, h)
		}
		if res.NextCursor == "" {
			return out, nil
		}
		req.Cursor = res.NextCursor
	}
	return out, nil
}

// Timeline is a node's timeline as a Source: its pages as the search, its
// live follow as the follow. Live and Of say how many of the follows are
// followed live, once Open ran.
type Timeline struct {
	Page      func(ctx context.Context, limit int, cursor string) (*query.Result, error)
	FollowAll func(ctx context.Context) (<-chan query.Hit, int, int, error)
	Live, Of  int
}

// Search returns a page of the timeline; req's limit and cursor count.
func (t *Timeline) Search(ctx context.Context, req query.Request) (*query.Result, error) {
	return t.Page(ctx, req.Limit, req.Cursor)
}

// Follow follows the timeline live.
func (t *Timeline) Follow(ctx context.Context, _ query.Request) (<-chan query.Hit, error) {
	hits, live, of, err := t.FollowAll(ctx)
	t.Live, t.Of = live, of
	return hits, err
}
