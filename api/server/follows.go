package server

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/follows"
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
	limit, ok := limitOf(w, q.Get("limit"))
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(query.WithCaller(r.Context(), api.CallerOf(r)), SearchTimeout)
	defer cancel()
	res, err := h.b.Timeline(ctx, limit, q.Get("cursor"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.responseOf(ctx, res))
}
