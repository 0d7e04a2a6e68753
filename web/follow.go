package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/follows"
	"github.com/murmur-p2p/murmur/internal/livesse"
	"github.com/murmur-p2p/murmur/query"
)

// maxFollowForm bounds the body of the follow form.
const maxFollowForm = 4 << 10

// followView is a button that follows or unfollows an author or a search.
type followView struct {
	Kind, Value string
	Followed    bool
	// Return is the page to go back to.
	Return string
}

// followViewOf is the follow button of kind and value, back to ret.
func (p *Page) followViewOf(kind, value, ret string) *followView {
	l := p.b.Follows()
	in := l.Authors
	if kind == follows.KindSearch {
		in = l.Searches
	}
	return &followView{Kind: kind, Value: value, Followed: slices.Contains(in, strings.TrimSpace(value)), Return: ret}
}

// follow follows or unfollows what the form names, then goes back.
func (p *Page) follow(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFollowForm)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, http.StatusRequestEntityTooLarge, "The form is too large.")
		return
	}
	kind, value := r.PostForm.Get("kind"), r.PostForm.Get("value")
	var err error
	if r.PostForm.Get("action") == "unfollow" {
		_, err = p.b.RemoveFollow(kind, value)
	} else {
		_, err = p.b.AddFollow(kind, value)
	}
	if err != nil {
		code, msg := p.failure(r, err)
		p.errorPage(w, r, code, msg)
		return
	}
	back := r.PostForm.Get("return")
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") || strings.HasPrefix(back, "/\\") {
		back = "/home" // only a page of this node
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// timelineView is the home page: what is followed, and their posts.
type timelineView struct {
	Follows  follows.List
	Timeline searchView
}

// timeline shows the posts of the followed authors and searches, newest
// first, and follows them live with the script.
func (p *Page) timeline(w http.ResponseWriter, r *http.Request) {
	v := timelineView{Follows: p.b.Follows(), Timeline: searchView{Sort: string(query.SortLatest), Start: startParam(r), Scope: "timeline"}}
	code := http.StatusOK
	if v.Follows.Len() > 0 {
		ctx, cancel := context.WithTimeout(query.WithCaller(r.Context(), api.CallerOf(r)), PageSearchTimeout)
		defer cancel()
		cursor := r.URL.Query().Get("cursor")
		began := time.Now()
		res, err := p.b.Timeline(ctx, PageSize, cursor)
		if err != nil {
			code, v.Timeline.Error = p.failure(r, err)
		} else {
			t := &v.Timeline
			t.Done, t.Total, t.TookMS = true, res.Total, res.Took.Milliseconds()
			t.Partial, t.Shards = shardsOf(res)
			for _, h := range res.Hits {
				t.Hits = append(t.Hits, newPostView(h.Post, h.Matches))
			}
			p.nameAll(ctx, t.Hits)
			if res.NextCursor != "" {
				t.MoreURL = "/home?" + url.Values{"cursor": {res.NextCursor}, "start": {strconv.Itoa(t.Start + len(t.Hits))}}.Encode()
			}
			if cursor == "" {
				t.LiveURL = "/live?" + url.Values{"timeline": {"1"}, "after": {livesse.Since(began)}}.Encode()
			}
		}
	}
	if fragment(r) {
		p.render(w, code, "timeline", "results", v.Timeline)
		return
	}
	p.render(w, code, "timeline", "", v)
}
