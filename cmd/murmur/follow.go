package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/murmur-p2p/murmur/api"
)

// followLimit is how many of the current matches 'search --follow' shows
// before the new ones.
const followLimit = 20

// resumeDelay is how long a follow waits before it resumes a stream the
// node dropped.
const resumeDelay = 2 * time.Second

// followSearch runs 'murmur search --follow': it prints the newest current
// matches of q at the node c talks to, oldest first, then each new match
// as it is written, until ctx ends (SIGINT or SIGTERM). A stream the node
// drops is resumed after its last event, so nothing written meanwhile is
// lost; a query the node refuses to follow is an error.
var followSearch = func(ctx context.Context, c *api.Client, q string, out io.Writer) error {
	began := time.Now()
	r, err := c.Search(ctx, url.Values{"q": {q}, "sort": {"latest"}, "limit": {fmt.Sprint(followLimit)}})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d matches (%d ms)%s; the newest %d, then new ones as they are written (Ctrl-C to stop)\n", r.Total, r.TookMS, partialNote(r), len(r.Hits))
	return followLive(ctx, out, began, r.Hits, func(ctx context.Context, lastID string, post func(string, api.Hit) error) (string, error) {
		return c.Stream(ctx, url.Values{"q": {q}}, lastID, post)
	})
}

// followTimeline runs 'murmur timeline --follow': the newest limit posts
// of the timeline, oldest first, then each new one as it is written, until
// ctx ends, as followSearch follows a search.
func followTimeline(ctx context.Context, c *api.Client, limit int, out io.Writer) error {
	began := time.Now()
	r, err := c.Timeline(ctx, url.Values{"limit": {fmt.Sprint(limit)}})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d posts (%d ms)%s; the newest %[1]d, then new ones as they are written (Ctrl-C to stop)\n", len(r.Hits), r.TookMS, timelineNote(r))
	return followLive(ctx, out, began, r.Hits, c.TimelineStream)
}

// streamFunc follows a stream of posts from after lastID, as api.Client's
// Stream and TimelineStream do, and returns the last event's ID.
type streamFunc func(ctx context.Context, lastID string, post func(id string, h api.Hit) error) (string, error)

// followLive prints hits, the newest current posts newest first as a page
// of the node holds them, oldest first, then each post stream hands on as
// it is written, until ctx ends (SIGINT or SIGTERM). It resumes a stream
// the node drops after its last event, so nothing written meanwhile is
// lost; a stream the node refuses (a 4xx answer) is an error. began is
// when the page was asked for: with no current post, the stream starts
// there.
func followLive(ctx context.Context, out io.Writer, began time.Time, hits []api.Hit, stream streamFunc) error {
	for i := len(hits) - 1; i >= 0; i-- {
		printHit(out, len(hits)-i, hits[i])
	}
	shown := len(hits)
	last := api.EventSince(began)
	if len(hits) > 0 {
		last = api.EventID(hits[0])
	}
	for {
		var err error
		last, err = stream(ctx, last, func(_ string, h api.Hit) error {
			shown++
			printHit(out, shown, h)
			return nil
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var refused *api.Error
		if errors.As(err, &refused) && refused.Status/100 == 4 {
			return err
		}
		if err == nil {
			err = errors.New("the node closed it")
		}
		fmt.Fprintf(out, "\n(the stream ended: %v; resuming in %v)\n", err, resumeDelay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(resumeDelay):
		}
	}
}

// endOfFollow is err, the end of a follow, but nil when the follow ended
// with its context: SIGINT or SIGTERM, a follow's normal end.
func endOfFollow(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
