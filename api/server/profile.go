package server

import (
	"encoding/json"
	"net/http"

	"github.com/murmur-p2p/murmur/api"
)

// maxProfileBody bounds the body of PUT /api/v1/profile.
const maxProfileBody = 8 << 10

func (h *handler) setProfile(w http.ResponseWriter, r *http.Request) {
	var req api.ProfileRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxProfileBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `body must be a JSON object {"name": "...", "bio": "..."}: `+err.Error())
		return
	}
	p, err := h.b.SetProfile(r.Context(), req.Name, req.Bio)
	if p == nil {
		h.fail(w, r, err)
		return
	}
	if err != nil {
		// Kept here, not yet at the other owners: said, not failed.
		h.log.Warn("profile not placed", "err", err)
		w.Header().Set("Warning", `199 murmur "`+err.Error()+`"`)
	}
	writeJSON(w, http.StatusOK, p)
}

func (h *handler) getProfile(w http.ResponseWriter, r *http.Request) {
	p, err := h.b.Profile(r.Context(), r.PathValue("author"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}
