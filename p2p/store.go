package p2p

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"golang.org/x/sync/errgroup"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/post"
)

// maxStoreBytes is the size at which a store request is cut, well under
// MaxMessageSize.
const maxStoreBytes = 2 << 20

// placeConcurrency bounds the owners a writer talks to at once.
const placeConcurrency = 8

// maxLookupsOnWrite bounds the split records a write looks up before it
// returns (Place); a root beyond is looked up in the background.
const maxLookupsOnWrite = 8

// placeAttempts is how many rounds a writer makes to reach W owners of
// every key before it reports the shortfall (repair keeps trying after).
const placeAttempts = 3

// ShortKey is a key of a post that fewer than W owners acknowledged.
type ShortKey struct {
	Key    string `json:"key"`
	Acks   int    `json:"acks"`
	Needed int    `json:"needed"`
}

// ShortError reports the keys of a post that did not reach their write
// quorum. The post is stored on this node and repair keeps placing it.
type ShortError struct{ Keys []ShortKey }

// ShortKeys lists the keys short of their quorum, for an HTTP answer that
// must not depend on this package.
func (e *ShortError) ShortKeys() []string {
	keys := make([]string, len(e.Keys))
	for i, k := range e.Keys {
		keys[i] = k.Key
	}
	return keys
}

func (e *ShortError) Error() string {
	if len(e.Keys) == 1 {
		k := e.Keys[0]
		return fmt.Sprintf("key %s has %d of %d acknowledgements; the node keeps retrying", k.Key, k.Acks, k.Needed)
	}
	return fmt.Sprintf("%d keys have fewer acknowledgements than the write quorum (first: %s, %d of %d); the node keeps retrying",
		len(e.Keys), e.Keys[0].Key, e.Keys[0].Acks, e.Keys[0].Needed)
}

// placement tracks the acknowledgements of one batch of posts.
type placement struct {
	posts []*post.Post
	raw   []json.RawMessage
	keys  [][]string
	// acked[i][key] is the set of owners that acknowledged post i under key.
	acked []map[string]map[peer.ID]bool
	// owners[i][key] is how many owners post i has under key, as last looked
	// up.
	owners []map[string]int
	// splitRoots are the roots, among the keys the posts were sent under,
	// that an owner named as split and this node knows no record of
	// (storeResult.Split).
	splitRoots map[string]bool
}

// Place sends posts, which are already in the local index, to the owners of
// each of their keys, and returns one error per post: nil when every key
// reached min(W, owners) acknowledgements, a *ShortError otherwise. The node
// itself counts as an owner that holds them. Requests are batched per owner.
func (s *Service) Place(ctx context.Context, posts []*post.Post) []error {
	pl := &placement{posts: posts, raw: make([]json.RawMessage, len(posts)), keys: make([][]string, len(posts)),
		acked: make([]map[string]map[peer.ID]bool, len(posts)), owners: make([]map[string]int, len(posts))}
	for i, p := range posts {
		raw, err := json.Marshal(p)
		if err != nil {
			raw = nil
		}
		pl.raw[i] = raw
		pl.keys[i] = s.placementKeys(p, time.Now())
		pl.acked[i] = map[string]map[peer.ID]bool{}
		pl.owners[i] = map[string]int{}
	}
	short := s.placeRounds(ctx, pl)
	if len(pl.splitRoots) > 0 && ctx.Err() == nil && s.learnSplitsNow(ctx, pl.splitRoots) {
		// The posts' keys under the records just learned: their leaves, so
		// that the write returns once the nodes a search asks hold them,
		// not at the root owners' next repair pass.
		grew := false
		for i, p := range posts {
			for _, k := range s.placementKeys(p, time.Now()) {
				if !slices.Contains(pl.keys[i], k) {
					pl.keys[i] = append(pl.keys[i], k)
					grew = true
				}
			}
		}
		if grew {
			short = s.placeRounds(ctx, pl)
		}
	}
	// A key that reached W but not every owner is repaired now rather than
	// at the next full sync: the owners that missed the post would answer
	// searches without it.
	var lagging []string
	for i := range posts {
		for k, n := range pl.owners[i] {
			if len(pl.acked[i][k]) < n {
				lagging = append(lagging, k)
			}
		}
	}
	if len(lagging) > 0 {
		s.repair.markDirty(lagging)
	}
	errs := make([]error, len(posts))
	for i, sk := range short {
		if len(sk) == 0 {
			continue
		}
		errs[i] = &ShortError{Keys: sk}
		s.repair.markDirty(pl.keys[i])
		s.metrics.placementShort.Inc()
	}
	return errs
}

// placementKeys are the keys a write sends p under: its keys by this
// node's split records, and the roots among them still in their grace after
// a hand-down (rootsInGrace).
func (s *Service) placementKeys(p *post.Post, now time.Time) []string {
	keys := s.keysOf(p)
	return append(keys, s.rootsInGrace(keys, now)...)
}

// placeRounds runs placement rounds until every key of every post reached
// its quorum, or placeAttempts rounds, and returns the short keys of each
// post.
func (s *Service) placeRounds(ctx context.Context, pl *placement) [][]ShortKey {
	var short [][]ShortKey
	for attempt := 0; ; attempt++ {
		short = s.placeRound(ctx, pl)
		done := true
		for _, sk := range short {
			if len(sk) > 0 {
				done = false
			}
		}
		if done || attempt+1 >= placeAttempts || ctx.Err() != nil {
			return short
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt+1) * 300 * time.Millisecond):
		}
	}
}

// learnSplitsNow looks up the records of roots from their owners, up to
// maxLookupsOnWrite of them and each at most once every heardWindow (an
// owner that names a root split that is not costs a write one lookup
// then), the rest in the background, and reports whether it learned any.
func (s *Service) learnSplitsNow(ctx context.Context, roots map[string]bool) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var g errgroup.Group
	g.SetLimit(4)
	n := 0
	now := time.Now()
	for _, root := range slices.Sorted(maps.Keys(roots)) {
		b := &s.splits
		b.mu.Lock()
		at, seen := b.tried[root]
		fresh := (!seen || now.Sub(at) >= heardWindow) && n < maxLookupsOnWrite && stamp(&b.tried, root, now)
		b.mu.Unlock()
		if !fresh {
			s.learnSplit(root)
			continue
		}
		n++
		g.Go(func() error {
			if err := s.lookUpSplit(ctx, root); err != nil {
				s.log.Debug("could not learn a split record on a write", "key", root, "err", err)
			}
			return nil
		})
	}
	_ = g.Wait() // each lookup logs its own failure
	for root := range roots {
		if _, ok := s.splits.get(root); ok {
			return true
		}
	}
	return false
}

// placeRound sends every post to every owner of its keys that has not
// acknowledged it yet, and returns the short keys of each post.
func (s *Service) placeRound(ctx context.Context, pl *placement) [][]ShortKey {
	type want struct {
		post int
		keys []string
	}
	perPeer := map[peer.ID][]want{}
	needed := make([]map[string]int, len(pl.posts))
	for i := range pl.posts {
		needed[i] = map[string]int{}
		if pl.raw[i] == nil {
			continue
		}
		byPeer := map[peer.ID][]string{}
		for _, k := range pl.keys[i] {
			owners, err := s.Owners(ctx, k)
			if err != nil || len(owners) == 0 {
				needed[i][k] = s.cfg.WriteQuorum
				continue
			}
			needed[i][k] = min(s.cfg.WriteQuorum, len(owners))
			pl.owners[i][k] = len(owners)
			acks := pl.acked[i][k]
			if acks == nil {
				acks = map[peer.ID]bool{}
				pl.acked[i][k] = acks
			}
			for _, o := range owners {
				switch {
				case acks[o]:
				case o == s.self:
					acks[o] = true // the caller stored it locally
				default:
					byPeer[o] = append(byPeer[o], k)
				}
			}
		}
		for p, ks := range byPeer {
			perPeer[p] = append(perPeer[p], want{post: i, keys: ks})
		}
	}

	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(placeConcurrency)
	for p, wants := range perPeer {
		// Cut the peer's share into requests under the size bounds.
		var batches [][]want
		var cur []want
		size := 0
		for _, w := range wants {
			sz := len(pl.raw[w.post]) + 64*len(w.keys)
			if len(cur) > 0 && (len(cur) >= MaxPostsPerStore || size+sz > maxStoreBytes) {
				batches = append(batches, cur)
				cur, size = nil, 0
			}
			cur = append(cur, w)
			size += sz
		}
		if len(cur) > 0 {
			batches = append(batches, cur)
		}
		for _, b := range batches {
			g.Go(func() error {
				req := storeRequest{Posts: make([]storeItem, len(b))}
				for j, w := range b {
					req.Posts[j] = storeItem{Post: pl.raw[w.post], Keys: w.keys}
				}
				var resp storeResponse
				if err := s.call(ctx, p, []protocol.ID{StoreProtocol(s.cfg.Network)}, "store", &req, &resp); err != nil {
					s.log.Debug("store failed", "owner", p, "posts", len(b), "err", err)
					return nil
				}
				if len(resp.Posts) != len(b) {
					s.log.Warn("owner answered a store request with the wrong number of results", "owner", p)
					return nil
				}
				mu.Lock()
				defer mu.Unlock()
				for j, w := range b {
					r := resp.Posts[j]
					if r.Error != "" {
						s.log.Debug("owner refused a post", "owner", p, "id", pl.posts[w.post].ID, "err", r.Error)
						continue
					}
					bad := map[string]bool{}
					for _, k := range r.BadKeys {
						bad[k] = true
					}
					for _, root := range r.Split {
						// A hint, not a record: the record is looked up
						// from the root's owners once the round is over
						// (Place), and only of a root this writer sent
						// the post under.
						if _, known := s.splits.get(root); !known && slices.Contains(w.keys, root) {
							if pl.splitRoots == nil {
								pl.splitRoots = map[string]bool{}
							}
							pl.splitRoots[root] = true
						}
					}
					for _, k := range w.keys {
						if !bad[k] {
							pl.acked[w.post][k][p] = true
						}
					}
				}
				return nil
			})
		}
	}
	_ = g.Wait() // acknowledgements are recorded above; a failed owner is short

	short := make([][]ShortKey, len(pl.posts))
	for i := range pl.posts {
		for _, k := range pl.keys[i] {
			if got, need := len(pl.acked[i][k]), needed[i][k]; got < need {
				short[i] = append(short[i], ShortKey{Key: k, Acks: got, Needed: need})
			}
		}
	}
	return short
}

// handleStore serves the store protocol: it verifies every post, checks that
// each key it is sent under is really one of its keys, indexes the good ones
// and applies tombstones.
func (s *Service) handleStore(st network.Stream) {
	var req storeRequest
	s.serve(st, s.storeIn, &req, func(ctx context.Context, from peer.ID) (any, error) {
		return s.applyStore(ctx, from, &req)
	})
}

// signed counts what req asks checked by signature: posts, tombstones and
// profiles (budgeted by postBudget, and by the sender's pacer).
func (req *storeRequest) signed() int {
	return len(req.Posts) + len(req.Tombstones) + len(req.Profiles)
}

func (s *Service) applyStore(ctx context.Context, from peer.ID, req *storeRequest) (*storeResponse, error) {
	// Verifying a post's signature is the costly part: bound the posts a
	// peer may send, not only its requests.
	if !s.postBudget.AllowN(from, req.signed()) {
		return nil, refuse(metrics.RefusedRateLimited, "more than %d posts a second from %s", PeerPostRate, from)
	}
	resp := &storeResponse{Posts: make([]storeResult, len(req.Posts)), Tombstones: make([]string, len(req.Tombstones))}
	now := time.Now()
	s.owners.refresh() // the routing table as of now decides what this node owns
	var good []*post.Post
	var goodAt []int
	refused := func(i int, reason, msg string) {
		resp.Posts[i].Error, resp.Posts[i].Reason = msg, reason
		s.countRefused(metrics.ProtocolStore, reason)
	}
	for i, it := range req.Posts {
		p, err := post.Decode(it.Post, now)
		if err != nil {
			refused(i, metrics.RefusedMalformed, err.Error())
			continue
		}
		valid := map[string]bool{}
		for _, k := range keyspace.Keys(p) {
			valid[k] = true
		}
		nGood := 0
		for _, k := range it.Keys {
			switch {
			case !valid[k] && !inTrieOf(k, p, valid):
				resp.Posts[i].BadKeys = append(resp.Posts[i].BadKeys, k)
			case !s.owners.mayOwn(k, s.cfg.Replicas+OwnerMargin):
				resp.Posts[i].NotOwned = append(resp.Posts[i].NotOwned, k)
			default:
				nGood++
			}
		}
		s.countRefusedN(metrics.ProtocolStore, metrics.RefusedNotOwner, len(resp.Posts[i].NotOwned))
		switch {
		case nGood > 0:
		case len(resp.Posts[i].NotOwned) > 0:
			refused(i, metrics.RefusedNotOwner, "this node owns none of the keys the post was sent under")
			continue
		default:
			refused(i, metrics.RefusedMalformed, "the post has none of the keys it was sent under")
			continue
		}
		good = append(good, p)
		goodAt = append(goodAt, i)
		s.learnSplitsOf(it.Keys)
		for _, k := range it.Keys {
			if _, split := s.splits.get(k); split {
				resp.Posts[i].Split = append(resp.Posts[i].Split, k)
			}
		}
	}
	good, goodAt = s.limitAuthors(ctx, good, goodAt, now, refused)
	if len(good) > 0 {
		errs, err := s.store.Put(ctx, good...)
		if errors.Is(err, index.ErrDiskFull) {
			for _, i := range goodAt {
				refused(i, metrics.RefusedDiskFull, err.Error())
			}
			good = nil
		} else if err != nil {
			return nil, fmt.Errorf("store %d posts: %w", len(good), err)
		}
		var stored []*post.Post
		var handOn, storedKeys []string
		for j, e := range errs {
			i := goodAt[j]
			switch {
			case e == nil:
				stored = append(stored, good[j])
				storedKeys = append(storedKeys, req.Posts[i].Keys...)
				handOn = append(handOn, s.unsentTrieKeys(good[j], req.Posts[i].Keys)...)
			case errors.Is(e, index.ErrDeleted):
				resp.Posts[i].Error = e.Error()
				if t, err := s.store.Tombstone(good[j].ID); err == nil {
					resp.Posts[i].Deleted, _ = json.Marshal(t)
				}
			default:
				resp.Posts[i].Error = e.Error()
			}
		}
		s.live.Offer(stored...)
		s.writers.note(from, storedKeys, now)
		if len(handOn) > 0 {
			// Sent under a split term's root by a writer that does not
			// know the split: its leaves' owners get it at the next pass.
			s.repair.markDirty(handOn)
		}
	}
	accepted, rejected := 0, 0
	for _, r := range resp.Posts {
		if r.Error == "" {
			accepted++
		} else {
			rejected++
		}
	}
	s.metrics.storePosts.WithLabelValues(metrics.OutcomeAccepted).Add(float64(accepted))
	s.metrics.storePosts.WithLabelValues(metrics.OutcomeRejected).Add(float64(rejected))
	for i, raw := range req.Tombstones {
		if err := s.applyTombstone(ctx, raw, metrics.ProtocolStore); err != nil {
			resp.Tombstones[i] = err.Error()
		}
	}
	if len(req.Profiles) > 0 {
		resp.Profiles = make([]string, len(req.Profiles))
		for i, raw := range req.Profiles {
			if err := s.applyProfile(raw); err != nil {
				resp.Profiles[i] = err.Error()
			}
		}
	}
	return resp, nil
}

// unsentTrieKeys are the nodes of split terms' tries that this node holds
// p under, but p was not sent under.
func (s *Service) unsentTrieKeys(p *post.Post, sent []string) []string {
	if s.splits.n.Load() == 0 {
		return nil
	}
	var out []string
	for _, k := range s.keysOf(p) {
		if strings.HasPrefix(k, keyspace.ClassTerm+"@") && !slices.Contains(sent, k) {
			out = append(out, k)
		}
	}
	return out
}

// inTrieOf reports whether key is a node of a split term's trie that holds
// p: p has the term (its root is among p's keys, valid) and falls in the
// node's month and prefix.
func inTrieOf(key string, p *post.Post, valid map[string]bool) bool {
	k, err := keyspace.Parse(key)
	if err != nil || k.Month == "" {
		return false
	}
	n, ok := k.Node()
	return ok && valid[n.Root().String()] && n.Holds(p.ID, p.CreatedAt)
}

// limitAuthors asks each post new to this node and written in the last
// FreshPostWindow for the network's proof of work if its author is new
// here, charges it to its author's rate at this owner, and refuses those
// over it. Older posts are what repair hands to new owners; they are
// bounded by the sender's post budget and the disk watermark instead.
func (s *Service) limitAuthors(ctx context.Context, posts []*post.Post, at []int, now time.Time, refused func(int, string, string)) ([]*post.Post, []int) {
	ids := make([]string, len(posts))
	for i, p := range posts {
		ids[i] = p.ID
	}
	held, err := s.store.Holds(ctx, ids)
	if err != nil {
		held = make([]bool, len(posts)) // charge them all
	}
	keep, keepAt := posts[:0:0], at[:0:0]
	for j, p := range posts {
		fresh := !held[j] && now.Sub(p.CreatedAt) < FreshPostWindow
		// Older posts are what repair hands to new owners, from before the
		// network asked for work too: like the author's rate, the work is
		// asked of new ones only.
		if fresh && p.Work < s.cfg.PostDifficulty && !s.knowsAuthor(ctx, p.Author) {
			refused(at[j], metrics.RefusedPostWork, fmt.Sprintf("author %s is new here: its posts need a proof of work of %d bits (this one has %d)", p.Author, s.cfg.PostDifficulty, p.Work))
			continue
		}
		if fresh && !s.authorLimits.Allow(p.Author) {
			refused(at[j], metrics.RefusedAuthorRate, fmt.Sprintf("author %s is over %g new posts a second at this node", p.Author, s.cfg.AuthorRate))
			continue
		}
		keep, keepAt = append(keep, p), append(keepAt, at[j])
	}
	return keep, keepAt
}

// knowsAuthor reports whether this node holds a post by author: an author
// it has seen before, whose new posts need no proof of work.
func (s *Service) knowsAuthor(ctx context.Context, author string) bool {
	ok, err := s.store.HasTerm(ctx, index.FieldAuthor, author)
	return err == nil && ok
}

// applyTombstone applies a tombstone a peer sent: only the post's own
// author may delete it (index.ErrWrongAuthor otherwise).
func (s *Service) applyTombstone(ctx context.Context, raw json.RawMessage, protocol string) error {
	t, err := post.DecodeTombstone(raw)
	if err != nil {
		s.countRefused(protocol, metrics.RefusedMalformed)
		return err
	}
	err = s.store.Delete(ctx, t)
	if errors.Is(err, index.ErrWrongAuthor) {
		s.countRefused(protocol, metrics.RefusedWrongAuthor)
	}
	return err
}

// Delete sends a tombstone of p, already applied locally, to the owners of
// every key of p. Owners it could not reach get it again at each repair pass.
func (s *Service) Delete(ctx context.Context, p *post.Post, t *post.Tombstone) error {
	raw, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode tombstone: %w", err)
	}
	// Every owner that may hold it: those of its roots, and of the nodes
	// of the tries this node knows.
	keys := keyspace.Keys(p)
	for _, k := range keyspace.WithSplits(keys, p, s.splitOf()) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if err := s.sendTombstone(ctx, keys, raw); err != nil {
		s.repair.queueTombstone(t.Target, pendingTombstone{raw: raw, keys: keys})
		return err
	}
	return nil
}

// sendTombstone delivers a tombstone to the owners of keys.
func (s *Service) sendTombstone(ctx context.Context, keys []string, raw json.RawMessage) error {
	peers := map[peer.ID]bool{}
	for _, k := range keys {
		owners, err := s.Owners(ctx, k)
		if err != nil {
			return fmt.Errorf("owners of %s: %w", k, err)
		}
		for _, o := range owners {
			if o != s.self {
				peers[o] = true
			}
		}
	}
	var g errgroup.Group
	g.SetLimit(placeConcurrency)
	var mu sync.Mutex
	var failed []error
	for p := range peers {
		g.Go(func() error {
			var resp storeResponse
			err := s.call(ctx, p, []protocol.ID{StoreProtocol(s.cfg.Network)}, "store", &storeRequest{Tombstones: []json.RawMessage{raw}}, &resp)
			if err == nil && (len(resp.Tombstones) != 1 || resp.Tombstones[0] != "") {
				err = fmt.Errorf("owner %s refused the tombstone: %v", p, resp.Tombstones)
			}
			if err != nil {
				mu.Lock()
				failed = append(failed, err)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait() // failures are collected above
	if len(failed) > 0 {
		return fmt.Errorf("tombstone reached %d of %d owners: %w", len(peers)-len(failed), len(peers), errors.Join(failed...))
	}
	return nil
}
