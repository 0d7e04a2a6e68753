package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/murmur-p2p/murmur/follows"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
)

// Bounds of the timeline.
const (
	// authorsPerSearch is how many followed authors one search of the
	// timeline asks for (from:A OR from:B ...): each author is 16 keys,
	// and a search asks at most netsearch.MaxKeys.
	authorsPerSearch = 8
	// timelineParallel bounds the searches of one timeline page at once.
	timelineParallel = 4
	// MaxLiveTimelineKeys bounds the keys the live timeline keeps standing
	// searches under: the follows beyond it are in the timeline's pages
	// but not live (TimelineLive says how many are).
	MaxLiveTimelineKeys = 96
)

// Follows returns what the operator follows.
func (n *Node) Follows() follows.List { return n.follows.List() }

// AddFollow follows an author (a peer ID or an author label, as from:
// takes) or a search (a query a live search can follow). Bad input is a
// *query.RequestError.
func (n *Node) AddFollow(kind, value string) (follows.List, error) {
	value = strings.TrimSpace(value)
	switch kind {
	case follows.KindAuthor:
		if value == "" || strings.ContainsAny(value, " \t\n\"():") {
			return follows.List{}, &query.RequestError{Msg: fmt.Sprintf("author %q is not a peer ID or an author label", value)}
		}
		if _, err := query.Prepare(query.Request{Q: "from:" + value}); err != nil {
			return follows.List{}, &query.RequestError{Msg: fmt.Sprintf("author %q: %v", value, err)}
		}
	case follows.KindSearch:
		p, err := query.Prepare(query.Request{Q: value})
		if err != nil {
			return follows.List{}, err
		}
		if _, err := n.searches.LiveKeys(p); err != nil {
			return follows.List{}, err
		}
	default:
		return follows.List{}, &query.RequestError{Msg: fmt.Sprintf("follow %q: give an author or a search", kind)}
	}
	if _, err := n.follows.Add(kind, value); err != nil {
		if errors.Is(err, follows.ErrFull) {
			return follows.List{}, &query.RequestError{Msg: err.Error()}
		}
		return follows.List{}, err
	}
	return n.follows.List(), nil
}

// RemoveFollow unfollows an author or a search; follows.ErrNotFollowed if
// it was not followed.
func (n *Node) RemoveFollow(kind, value string) (follows.List, error) {
	if err := n.follows.Remove(kind, strings.TrimSpace(value)); err != nil {
		return follows.List{}, err
	}
	return n.follows.List(), nil
}

// timelineSearches are the searches that make up the timeline of l: the
// followed authors, authorsPerSearch to a search, and each followed search.
func timelineSearches(l follows.List, perSearch int) []query.Request {
	var out []query.Request
	for i := 0; i < len(l.Authors); i += perSearch {
		var q []string
		for _, a := range l.Authors[i:min(i+perSearch, len(l.Authors))] {
			q = append(q, "from:"+a)
		}
		out = append(out, query.Request{Q: strings.Join(q, " OR ")})
	}
	for _, s := range l.Searches {
		out = append(out, query.Request{Q: s})
	}
	return out
}

// newerFirst orders hits newest first, then by descending ID: the
// timeline's order, in which its cursor is a position.
func newerFirst(a, b query.Hit) int {
	if c := b.Post.CreatedAt.Compare(a.Post.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(b.Post.ID, a.Post.ID)
}

// timelineCursor is the position after a hit: its creation time and ID.
func timelineCursor(p *post.Post) string {
	return p.CreatedAt.UTC().Format(time.RFC3339Nano) + "/" + p.ID
}

// Timeline returns a page of the posts of the followed authors and
// searches, newest first, after cursor (from a previous page's
// NextCursor). Each page runs the timeline's searches, sorted by time and
// bounded by the cursor, and merges them; a search that fails makes the
// page Partial.
func (n *Node) Timeline(ctx context.Context, limit int, cursor string) (*query.Result, error) {
	start := time.Now()
	switch {
	case limit == 0:
		limit = query.DefaultLimit
	case limit < 0 || limit > query.MaxLimit:
		return nil, &query.RequestError{Msg: fmt.Sprintf("limit %d is out of range; use 1 to %d", limit, query.MaxLimit)}
	}
	var after *post.Post
	if cursor != "" {
		at, id, ok := strings.Cut(cursor, "/")
		t, err := time.Parse(time.RFC3339Nano, at)
		if !ok || err != nil || !post.ValidID(id) {
			return nil, &query.RequestError{Msg: "cursor is not valid"}
		}
		after = &post.Post{CreatedAt: t, ID: id}
	}
	searches := timelineSearches(n.follows.List(), authorsPerSearch)
	out := &query.Result{Scope: query.ScopeNetwork}
	var mu sync.Mutex
	var hits []query.Hit
	more := false
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(timelineParallel)
	for _, req := range searches {
		req.Sort, req.Limit = query.SortLatest, limit
		if after != nil {
			// until is exclusive: a millisecond on, so that posts of the
			// cursor's own millisecond come, to be cut below.
			req.Until = after.CreatedAt.Add(time.Millisecond).UTC().Format(time.RFC3339Nano)
		}
		g.Go(func() error {
			res, err := n.Search(gctx, req)
			mu.Lock()
			defer mu.Unlock()
			out.Shards.Asked++
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				out.Shards.Failed++
				out.Partial = true
				n.log.Debug("a search of the timeline failed", "q", req.Q, "err", err)
				return nil
			}
			out.Shards.Answered++
			out.Partial = out.Partial || res.Partial
			more = more || res.NextCursor != ""
			hits = append(hits, res.Hits...)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(hits, newerFirst)
	hits = slices.CompactFunc(hits, func(a, b query.Hit) bool { return a.Post.ID == b.Post.ID })
	if after != nil {
		hits = slices.DeleteFunc(hits, func(h query.Hit) bool { return newerFirst(h, query.Hit{Post: after}) <= 0 })
	}
	if len(hits) > limit {
		hits, more = hits[:limit], true
	}
	for i := range hits {
		hits[i].Score = 0 // the searches' scores do not compare
	}
	out.Hits = hits
	out.Total = uint64(len(hits))
	if more && len(hits) > 0 {
		out.NextCursor = timelineCursor(hits[len(hits)-1].Post)
	}
	out.Took = time.Since(start)
	return out, nil
}

// FollowTimeline returns the posts of the followed authors and searches as
// they are written, until ctx ends: a live search for each search of the
// timeline, as far as MaxLiveTimelineKeys allows. live and of say how many
// of the follows that is.
func (n *Node) FollowTimeline(ctx context.Context) (hits <-chan query.Hit, live, of int, err error) {
	l := n.follows.List()
	// One author to a live search: a standing search covers at most
	// netsearch.MaxLiveKeys keys.
	searches := timelineSearches(l, 1)
	type source struct {
		req  query.Request
		keys int
	}
	var sources []source
	total := 0
	for _, req := range searches {
		p, err := query.Prepare(req)
		if err != nil {
			continue
		}
		keys, err := n.searches.LiveKeys(p)
		if err != nil || total+len(keys) > MaxLiveTimelineKeys {
			continue
		}
		total += len(keys)
		sources = append(sources, source{req, len(keys)})
	}
	release, err := n.enterStream(ctx)
	if err != nil {
		return nil, 0, 0, err
	}
	out := make(chan query.Hit)
	var wg sync.WaitGroup
	var readies []<-chan struct{}
	for _, s := range sources {
		ch, ready, err := n.startFollow(ctx, s.req)
		if err != nil {
			continue
		}
		readies = append(readies, ready)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range ch {
				select {
				case out <- h:
				case <-ctx.Done():
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		release()
		close(out)
	}()
	n.awaitReady(ctx, readies...)
	return out, len(sources), len(searches), nil
}
