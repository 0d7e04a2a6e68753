package web

import (
	"bytes"
	"net/http"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/internal/livesse"
	"github.com/murmur-p2p/murmur/query"
)

// live streams the new matches of a results page as Server-Sent Events
// whose data is each post rendered as the results list shows it; the
// page's script puts them at the top behind a "new posts" notice.
func (p *Page) live(w http.ResponseWriter, r *http.Request) {
	req, last := livesse.RequestOf(r)
	ctx := query.WithCaller(r.Context(), api.CallerOf(r))
	var src livesse.Source = p.b
	if r.URL.Query().Get("timeline") == "1" {
		src = &livesse.Timeline{Page: p.b.Timeline, FollowAll: p.b.FollowTimeline}
	}
	s, err := livesse.Open(ctx, src, req, last)
	if err != nil {
		code, msg := p.failure(r, err)
		http.Error(w, msg, code)
		return
	}
	s.Serve(ctx, w, "post", func(h query.Hit) string {
		var b bytes.Buffer
		v := newPostView(h.Post, h.Matches)
		p.nameAuthors(ctx, &v)
		if err := p.pages["home"].ExecuteTemplate(&b, "newpost", v); err != nil {
			p.log.Error("render a live post", "id", h.Post.ID, "err", err)
		}
		return b.String()
	}, func(msg string) string { return msg })
}
