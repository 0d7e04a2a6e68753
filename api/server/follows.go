package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/follows"
	"github.com/murmur-p2p/murmur/internal/livesse"
	"github.com/murmur-p2p/murmur/query"
)

// maxFollowBody bounds the body of POST /api/v1/follows.
const maxFollowBody = 4 << 10

func followsOf(l follows.List) api.Follows {
	return api.Follows{Authors: l.Authors, Searches: l.Searches}
}

func (h *handler) getFollows(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, followsOf(h.b.Follows()))
}

// followOf reads which follow a request names: exactly one of author and
// search.
func followOf(req api.FollowRequest) (kind, value string, err error) {
	switch {
	case req.Author != "" && req.Search == "":
		return follows.KindAuthor, req.Author, nil
	case req.Search != "" && req.Author == "":
		return follows.KindSearch, req.Search, nil
	}
	return "", "", &query.RequestError{Msg: `name one author or one search: {"author": "PEER-ID or LABEL"} or {"search": "QUERY"}`}
}

func (h *handler) addFollow(w http.ResponseWriter, r *http.Request) {
	var req api.FollowRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFollowBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `body must be a JSON object {"author": "..."} or {"search": "..."}: `+err.Error())
		return
	}
	kind, value, err := followOf(req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	l, err := h.b.AddFollow(kind, value)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, followsOf(l))
}

func (h *handler) removeFollow(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	kind, value, err := followOf(api.FollowRequest{Author: q.Get("author"), Search: q.Get("search")})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	l, err := h.b.RemoveFollow(kind, value)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, followsOf(l))
}

func (h *handler) timeline(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 0
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q is not a number; use 1 to %d", s, query.MaxLimit))
			return
		}
		limit = n
	}
	ctx, cancel := context.WithTimeout(query.WithCaller(r.Context(), api.CallerOf(r)), SearchTimeout)
	defer cancel()
	res, err := h.b.Timeline(ctx, limit, q.Get("cursor"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := api.SearchResponse{
		Hits:       make([]api.Hit, 0, len(res.Hits)),
		Total:      res.Total,
		Partial:    res.Partial,
		Shards:     api.Shards{Asked: res.Shards.Asked, Answered: res.Shards.Answered, Failed: res.Shards.Failed},
		TookMS:     res.Took.Milliseconds(),
		NextCursor: res.NextCursor,
		Scope:      res.Scope,
	}
	for _, hit := range res.Hits {
		out.Hits = append(out.Hits, hitOf(hit))
	}
	h.nameAuthors(ctx, out.Hits)
	writeJSON(w, http.StatusOK, out)
}

// timelineStream serves the timeline live as Server-Sent Events, like
// /api/v1/stream.
func (h *handler) timelineStream(w http.ResponseWriter, r *http.Request) {
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("after")
	}
	ctx := query.WithCaller(r.Context(), api.CallerOf(r))
	src := &livesse.Timeline{Page: h.b.Timeline, FollowAll: h.b.FollowTimeline}
	s, err := livesse.Open(ctx, src, query.Request{}, last)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("X-Murmur-Live", fmt.Sprintf("%d of %d", src.Live, src.Of))
	s.Serve(ctx, w, "post", func(hit query.Hit) string {
		data, _ := json.Marshal(hitOf(hit)) // a hit encodes
		return string(data)
	}, func(msg string) string {
		data, _ := json.Marshal(api.ErrorResponse{Error: msg})
		return string(data)
	})
}
