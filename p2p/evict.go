package p2p

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
)

// maxEvictCandidates bounds the posts one eviction pass considers, and so
// the IDs it keeps in memory and sends to owners.
const maxEvictCandidates = 5000

var errEnoughCandidates = errors.New("enough eviction candidates")

// evict drops this node's copies of posts it owns no key of: a node that
// owned a key before others joined keeps the post until every owner of
// every key of the post has confirmed, over the sync protocol, that it
// holds it. The node's own posts are kept, and so is a post with a key
// whose owners the node cannot name without asking the network. It returns
// how many copies it dropped.
func (r *repairer) evict(ctx context.Context) (int, error) {
	s := r.s
	self := s.self.String()
	// Every holder indexes the whole post, so an owner that holds the post
	// holds it under each of its keys: one key per owner is enough to ask.
	asks := map[peer.ID]map[string][]string{} // owner -> key -> post IDs
	var cands []string
	now := time.Now()
	err := s.store.Walk(ctx, func(p *post.Post) error {
		if p.Author == self {
			return nil
		}
		keys := keyspace.Keys(p)
		if s.keepsBack(keys, now) {
			return nil // a split term's post it may still be asked for
		}
		ask := map[peer.ID]string{}
		for _, k := range keyspace.WithSplits(keys, p, s.splitOf()) {
			owners, ok := s.owners.cached(k, false)
			if !ok || len(owners) == 0 {
				return nil
			}
			for _, o := range owners {
				if o == s.self {
					return nil
				}
				if _, ok := ask[o]; !ok {
					ask[o] = k
				}
			}
		}
		for o, k := range ask {
			byKey := asks[o]
			if byKey == nil {
				byKey = map[string][]string{}
				asks[o] = byKey
			}
			byKey[k] = append(byKey[k], p.ID)
		}
		cands = append(cands, p.ID)
		if len(cands) >= maxEvictCandidates {
			return errEnoughCandidates
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnoughCandidates) {
		return 0, fmt.Errorf("list held posts: %w", err)
	}
	if len(cands) == 0 {
		return 0, nil
	}

	epoch := s.owners.refresh()
	lacking := map[string]bool{}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(placeConcurrency)
	for o, byKey := range asks {
		g.Go(func() error {
			lists := make([]KeyIDs, 0, len(byKey))
			for k, ids := range byKey {
				lists = append(lists, KeyIDs{Key: k, IDs: ids})
			}
			missing, err := s.Missing(ctx, o, lists)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.log.Debug("owner did not say which posts it holds; keeping them", "owner", o, "err", err)
				missing = lists
			}
			for _, l := range missing {
				for _, id := range l.IDs {
					lacking[id] = true
				}
			}
			return nil
		})
	}
	_ = g.Wait() // an owner that fails keeps its posts, through lacking
	if s.owners.refresh() != epoch || s.Settling() {
		return 0, nil // the owners changed while they were asked
	}
	var drop []string
	for _, id := range cands {
		if !lacking[id] {
			drop = append(drop, id)
		}
	}
	if len(drop) == 0 {
		return 0, nil
	}
	n, err := s.store.Drop(ctx, drop...)
	s.metrics.evictedPosts.Add(float64(n))
	if err != nil {
		return n, fmt.Errorf("drop copies owned elsewhere: %w", err)
	}
	return n, nil
}
