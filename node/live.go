package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/murmur-p2p/murmur/internal/gate"
	"github.com/murmur-p2p/murmur/live"
	"github.com/murmur-p2p/murmur/query"
)

// Bounds of the live searches a node follows for its API and web page.
const (
	// MaxStreams bounds the live searches followed at once.
	MaxStreams = 64
	// MaxStreamsPerCaller bounds those of one caller (one client address).
	MaxStreamsPerCaller = 8
)

// Follow keeps a standing search for req at the owners of the keys a
// search for it is routed to, and returns the posts that match as they
// are written, as hits (live.Follow), until ctx ends. A query no key
// routes is refused with a *query.RequestError; so is a local scope.
func (n *Node) Follow(ctx context.Context, req query.Request) (<-chan query.Hit, error) {
	if req.Scope != "" && req.Scope != query.ScopeNetwork {
		return nil, &query.RequestError{Msg: fmt.Sprintf("scope %q cannot be followed live; only the network's", req.Scope)}
	}
	if _, err := query.Prepare(req); err != nil {
		return nil, err
	}
	release, err := n.enterStream(ctx)
	if err != nil {
		return nil, err
	}
	hits, err := n.follow(ctx, req)
	if err != nil {
		release()
		return nil, err
	}
	out := make(chan query.Hit)
	go func() {
		defer close(out)
		defer release()
		for h := range hits {
			select {
			case out <- h:
			case <-ctx.Done():
			}
		}
	}()
	return out, nil
}

// enterStream takes a place for a live search of ctx's caller.
func (n *Node) enterStream(ctx context.Context) (release func(), err error) {
	release, err = n.streams.Enter(ctx, query.CallerOf(ctx), 100*time.Millisecond)
	switch {
	case errors.Is(err, gate.ErrKeyFull):
		return nil, &query.BusyError{Msg: fmt.Sprintf("this node already follows %d live searches for you; close one first", MaxStreamsPerCaller)}
	case errors.Is(err, gate.ErrFull):
		return nil, &query.BusyError{Msg: fmt.Sprintf("this node follows %d live searches already; try again later", MaxStreams)}
	}
	return release, err
}

// follow is Follow without the bound on the live searches of the API: it
// returns once an owner of every key keeps the search, or after
// ReadyWait. The channel is closed once ctx ends and the subscription has
// stopped.
func (n *Node) follow(ctx context.Context, req query.Request) (<-chan query.Hit, error) {
	hits, ready, err := n.startFollow(ctx, req)
	if err != nil {
		return nil, err
	}
	n.awaitReady(ctx, ready)
	return hits, nil
}

// ReadyWait bounds how long a live search waits for the owners to keep it
// before it is handed out: a caller that searches next (to catch up) then
// misses nothing written between its search and the first push.
const ReadyWait = 5 * time.Second

// awaitReady waits until every ready is closed, ReadyWait or ctx.
func (n *Node) awaitReady(ctx context.Context, ready ...<-chan struct{}) {
	timeout := time.NewTimer(ReadyWait)
	defer timeout.Stop()
	for _, r := range ready {
		select {
		case <-r:
		case <-timeout.C:
			n.log.Info("a live search is not yet kept by an owner of every key; it goes on, and subscribes again", "after", ReadyWait)
			return
		case <-ctx.Done():
			return
		}
	}
}

// startFollow starts a live search and returns its hits and a channel
// closed once an owner of every key keeps it.
func (n *Node) startFollow(ctx context.Context, req query.Request) (<-chan query.Hit, <-chan struct{}, error) {
	p, err := query.Prepare(req)
	if err != nil {
		return nil, nil, err
	}
	keys, err := n.searches.LiveKeys(p)
	if err != nil {
		return nil, nil, err
	}
	posts, ready := live.Follow(ctx, n.net, p, live.Request{Query: req.Q, Lang: req.Lang, Since: req.Since, Until: req.Until}, keys, n.log)
	out := make(chan query.Hit)
	go func() {
		defer close(out)
		for pp := range posts {
			raw, err := json.Marshal(pp)
			if err != nil {
				continue
			}
			select {
			case out <- query.Hit{Post: pp, Raw: string(raw), Sort: []string{pp.CreatedAt.UTC().Format(time.RFC3339Nano), pp.ID}}:
			case <-ctx.Done():
				// live.Follow closes posts once its goroutines stopped.
			}
		}
	}()
	return out, ready, nil
}
