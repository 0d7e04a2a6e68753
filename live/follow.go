package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
)

// Request subscribes a query at one owner of Key: the query's text and
// filters, as in a search.
type Request struct {
	Query string `json:"query"`
	Lang  string `json:"lang,omitempty"`
	Since string `json:"since,omitempty"`
	Until string `json:"until,omitempty"`
	Key   string `json:"key"`
}

// Prepare checks a subscription a peer sent: its query, as a search's,
// and its key.
func (r Request) Prepare() (*query.Prepared, keyspace.Key, error) {
	p, err := query.Prepare(query.Request{Q: r.Query, Lang: r.Lang, Since: r.Since, Until: r.Until})
	if err != nil {
		return nil, keyspace.Key{}, err
	}
	k, err := keyspace.Parse(r.Key)
	if err != nil {
		return nil, keyspace.Key{}, fmt.Errorf("standing search key: %w", err)
	}
	return p, k, nil
}

// Accepted is an owner's answer to a Request: an error, or the lease it
// keeps the search for.
type Accepted struct {
	Error        string `json:"error,omitempty"`
	LeaseSeconds int    `json:"lease_seconds,omitempty"`
}

// Push is one message of an owner's stream after Accepted: a post that
// matched, or none (a heartbeat).
type Push struct {
	Post json.RawMessage `json:"post,omitempty"`
}

// Transport is what following a query needs of the network.
type Transport interface {
	// Owners returns the owners of key.
	Owners(ctx context.Context, key string) ([]peer.ID, error)
	// Subscribe keeps req standing at p until the owner ends it (its
	// lease is over), the stream fails or ctx ends: it calls accepted once
	// the owner keeps the search, and hands push each encoded post the
	// owner sends.
	Subscribe(ctx context.Context, p peer.ID, req Request, accepted func(), push func(json.RawMessage)) error
}

// Bounds and timing of a subscriber.
const (
	// Recheck is how often a subscriber asks who owns its keys, to
	// subscribe at new owners.
	Recheck = 30 * time.Second
	// ReorderDelay is how long a subscriber holds a post before it delivers
	// it, so that posts arriving close together are delivered in the order
	// they were written.
	ReorderDelay = 100 * time.Millisecond
	// resubscribeDelay is the pause before a subscriber subscribes again at
	// an owner whose stream ended.
	resubscribeDelay = time.Second
	// seenPosts bounds the post IDs a subscriber remembers to drop the
	// copies of a post the R owners each push.
	seenPosts = 16384
)

// Follow keeps req standing at the owners of keys, the keys a search for
// p would be routed to, and returns the posts that match p as they arrive:
// verified, each once, in creation order within ReorderDelay. It follows
// ownership: every Recheck, and whenever a stream ends, it subscribes at
// the keys' current owners. The channel is closed once ctx ends and every
// goroutine of the subscription has stopped. ready is closed once an
// owner of every key keeps the search: a post stored after that reaches
// the follower.
func Follow(ctx context.Context, tr Transport, p *query.Prepared, req Request, keys []keyspace.Key, log *slog.Logger) (posts <-chan *post.Post, ready <-chan struct{}) {
	out := make(chan *post.Post, QueueLen)
	in := make(chan arrival, QueueLen)
	allReady := make(chan struct{})
	var left atomic.Int64
	left.Store(int64(len(keys)))
	if len(keys) == 0 {
		close(allReady)
	}
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := req
			r.Key = k.String()
			accepted := sync.OnceFunc(func() {
				if left.Add(-1) == 0 {
					close(allReady)
				}
			})
			keep(ctx, tr, k, r, in, accepted, log)
		}()
	}
	go func() {
		deliver(ctx, p, in, out)
		wg.Wait()
		close(out)
	}()
	return out, allReady
}

type arrival struct {
	key keyspace.Key
	raw json.RawMessage
}

// keep holds a stream to every current owner of k.
func keep(ctx context.Context, tr Transport, k keyspace.Key, req Request, in chan<- arrival, accepted func(), log *slog.Logger) {
	type stream struct{ cancel context.CancelFunc }
	running := map[peer.ID]stream{}
	ended := make(chan peer.ID, 16)
	var wg sync.WaitGroup
	defer func() {
		for _, s := range running {
			s.cancel()
		}
		wg.Wait()
	}()
	tick := time.NewTicker(Recheck)
	defer tick.Stop()
	for {
		owners, err := tr.Owners(ctx, req.Key)
		if err != nil && ctx.Err() == nil {
			log.Debug("no owners for a standing search", "key", req.Key, "err", err)
		}
		want := map[peer.ID]bool{}
		for _, o := range owners {
			want[o] = true
			if _, ok := running[o]; ok {
				continue
			}
			sctx, cancel := context.WithCancel(ctx)
			running[o] = stream{cancel: cancel}
			wg.Add(1)
			go func() {
				defer wg.Done()
				// An honest owner pushes at most PushRate a second for
				// the search: one that floods the subscriber with posts
				// to verify is cut off.
				limit := rate.NewLimiter(2*PushRate, 2*PushBurst)
				err := tr.Subscribe(sctx, o, req, accepted, func(raw json.RawMessage) {
					if !limit.Allow() {
						log.Info("an owner pushed a standing search's posts faster than owners may; cut off", "key", req.Key, "owner", o)
						cancel()
						return
					}
					select {
					case in <- arrival{key: k, raw: raw}:
					case <-sctx.Done():
					}
				})
				if err != nil && sctx.Err() == nil {
					log.Debug("standing search ended", "key", req.Key, "owner", o, "err", err)
				}
				select {
				case ended <- o:
				case <-ctx.Done():
				}
			}()
		}
		// Owners no longer among the key's keep no standing search of it.
		for o, s := range running {
			if !want[o] {
				s.cancel()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case o := <-ended:
			delete(running, o)
			select {
			case <-ctx.Done():
				return
			case <-time.After(resubscribeDelay):
			}
		}
		// Every stream that ended meanwhile is subscribed again.
		for more := true; more; {
			select {
			case o := <-ended:
				delete(running, o)
			default:
				more = false
			}
		}
	}
}

// deliver verifies what the owners push, drops copies and what does not
// match, and hands the rest to out in creation order.
func deliver(ctx context.Context, p *query.Prepared, in <-chan arrival, out chan<- *post.Post) {
	seen := map[string]struct{}{}
	var order []string
	var held []*post.Post
	var flush <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-in:
			pp, err := checkPush(p, a)
			if err != nil {
				continue
			}
			if _, ok := seen[pp.ID]; ok {
				continue
			}
			seen[pp.ID] = struct{}{}
			order = append(order, pp.ID)
			if len(order) > seenPosts {
				delete(seen, order[0])
				order = order[1:]
			}
			held = append(held, pp)
			if flush == nil {
				flush = time.After(ReorderDelay)
			}
		case <-flush:
			flush = nil
			slices.SortStableFunc(held, func(a, b *post.Post) int { return a.CreatedAt.Compare(b.CreatedAt) })
			for _, pp := range held {
				select {
				case out <- pp:
				case <-ctx.Done():
					return
				}
			}
			held = held[:0]
		}
	}
}

// errNoMatch is a push the subscriber did not ask for.
var errNoMatch = errors.New("pushed post does not match the standing search")

// checkPush verifies a pushed post: its signature and ID, that it is
// under the key it was pushed for, and that it matches the query.
func checkPush(p *query.Prepared, a arrival) (*post.Post, error) {
	pp, err := post.Decode(a.raw, time.Now())
	if err != nil {
		return nil, err
	}
	if !a.key.Contains(pp) || !query.Matches(p.Expr, pp) {
		return nil, errNoMatch
	}
	return pp, nil
}

// Bounds of the live protocol's messages.
const (
	// maxKeyBytes bounds a Request's key.
	maxKeyBytes = 512
	// maxErrorBytes bounds an Accepted's error.
	maxErrorBytes = 1024
)

// Check bounds a Request a peer sent before it is prepared.
func (r *Request) Check() error {
	if len(r.Query)+len(r.Lang)+len(r.Since)+len(r.Until) > query.MaxQueryBytes || len(r.Key) > maxKeyBytes {
		return fmt.Errorf("standing search over %d bytes of query or %d of key", query.MaxQueryBytes, maxKeyBytes)
	}
	return nil
}

// Check bounds an Accepted an owner sent.
func (a *Accepted) Check() error {
	if len(a.Error) > maxErrorBytes || a.LeaseSeconds < 0 || a.LeaseSeconds > int(time.Hour/time.Second) {
		return errors.New("standing search answer out of bounds")
	}
	return nil
}

// Check bounds a Push an owner sent: a post is at most
// post.MaxEncodedSize bytes.
func (m *Push) Check() error {
	if len(m.Post) > post.MaxEncodedSize {
		return fmt.Errorf("pushed post over %d bytes", post.MaxEncodedSize)
	}
	return nil
}
