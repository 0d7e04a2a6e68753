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
	shown := len(r.Hits)
	fmt.Fprintf(out, "%d matches (%d ms)%s; the newest %d, then new ones as they are written (Ctrl-C to stop)\n", r.Total, r.TookMS, partialNote(r), shown)
	for i := len(r.Hits) - 1; i >= 0; i-- {
		printHit(out, len(r.Hits)-i, r.Hits[i])
	}
	last := api.EventSince(began)
	if len(r.Hits) > 0 {
		last = api.EventID(r.Hits[0])
	}
	for {
		last, err = c.Stream(ctx, url.Values{"q": {q}}, last, func(_ string, h api.Hit) error {
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
		fmt.Fprintf(out, "\n(the stream ended: %v; resuming in 2 s)\n", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
