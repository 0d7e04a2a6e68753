package netsearch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
)

// SearchKeyN asks n owners of key to answer req, each hedged over the
// remaining owners, and returns every answer it got: while the network
// settles a new owner may not hold all of a key's posts yet, and the union
// of the owners' answers covers it.
func (c *Coordinator) searchKeyN(ctx context.Context, key string, req *Request, n int) ([]*Response, []peer.ID, error) {
	owners, err := c.tr.Owners(ctx, key)
	if err != nil {
		return nil, nil, fmt.Errorf("owners of %s: %w", key, err)
	}
	return c.gather(ctx, c.preferredFor(key, owners), req, max(n, 1))
}

// searchKeyChecked asks the owners of key for a page that no one owner can
// hide a post from: the first owner (this node when it owns the key) for
// its hits, and at the same time another owner for a digest of its own
// (IDs and scores). When the digest names a post the first answer left
// out, and the first answer's cut would have kept it, the second owner is
// asked for its hits too, so that the union holds every match either
// holds; otherwise its digest's counts stand for its answer. This costs
// one answer's bytes instead of two where the owners agree.
func (c *Coordinator) searchKeyChecked(ctx context.Context, key string, req *Request, s query.Sort) ([]*Response, []peer.ID, error) {
	digestReq := *req
	digestReq.Digest = true
	resps, from, paired, err := c.searchPair(ctx, key, req, &digestReq, req)
	if err != nil || !paired {
		return resps, from, err
	}
	d := resps[1]
	if leftOut(s, resps[0], d, req.Size) {
		whole, err := c.searchOne(ctx, from[1], req)
		if err == nil {
			return []*Response{resps[0], whole}, from, nil
		}
		c.log.Debug("an owner's digest named posts it then did not send", "key", key, "peer", from[1], "err", err)
	}
	return []*Response{resps[0], {Total: d.Total, Count: d.Count, Counts: d.Counts}}, from, nil
}

// searchKeyDigested asks the owners of key for a digest that no one owner
// can forge: the first owner for the digest (req asks for one), and at
// the same time another owner for its checksum alone. The querier
// compares the two (sameDigests): where the owners agree, a second digest
// costs a few dozen bytes.
func (c *Coordinator) searchKeyDigested(ctx context.Context, key string, req *Request) ([]*Response, []peer.ID, error) {
	sumReq := *req
	sumReq.DigestSum = true
	resps, from, _, err := c.searchPair(ctx, key, req, &sumReq, &sumReq)
	return resps, from, err
}

// searchPair asks two owners of key at once: the first (this node when it
// owns the key) with first, another with second. The two answers never
// come from one owner: when the first owner failed and its answer came
// from the owner asked second (a new owner that may still lack posts must
// not answer alone), or when no owner answered second, the owners other
// than the first's are asked with fallback. It returns the first answer
// and the other's, if one came, with their owners; paired reports that
// the other answered second, not fallback.
func (c *Coordinator) searchPair(ctx context.Context, key string, first, second, fallback *Request) (resps []*Response, from []peer.ID, paired bool, err error) {
	owners, err := c.tr.Owners(ctx, key)
	if err != nil {
		return nil, nil, false, fmt.Errorf("owners of %s: %w", key, err)
	}
	cands := c.preferredFor(key, owners)
	if len(cands) < 2 {
		resps, from, err := c.gather(ctx, cands, first, 1)
		return resps, from, false, err
	}
	var (
		wg        sync.WaitGroup
		other     []*Response
		otherFrom []peer.ID
		otherErr  error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		other, otherFrom, otherErr = c.gather(ctx, cands[1:], second, 1)
	}()
	resps, from, err = c.gather(ctx, cands, first, 1)
	wg.Wait()
	if err != nil {
		return nil, nil, false, err
	}
	if otherErr == nil && otherFrom[0] == from[0] {
		otherErr = errors.New("both answers came from one owner")
	}
	if otherErr != nil {
		rest := slices.DeleteFunc(slices.Clone(cands), func(p peer.ID) bool { return p == from[0] })
		if more, froms, err := c.gather(ctx, rest, fallback, 1); err == nil {
			return append(resps, more[0]), append(from, froms[0]), false, nil
		}
		return resps, from, false, nil // no second owner answered: one owner's answer
	}
	return append(resps, other[0]), append(from, otherFrom[0]), true, nil
}

// leftOut reports whether the digest d names a hit that the answer a
// lacks and would have held: any hit when a did not fill the size asked,
// else one that sorts before a's last hit.
func leftOut(s query.Sort, a, d *Response, size int) bool {
	have := make(map[string]bool, len(a.Hits))
	for _, h := range a.Hits {
		if len(h.Sort) == 2 {
			have[idPrefix(h.Sort[1])] = true
		}
	}
	var last *query.Hit
	if len(a.Hits) >= size {
		if h := a.Hits[len(a.Hits)-1]; len(h.Sort) == 2 {
			last = sortPlace(s, h.Sort[0], idPrefix(h.Sort[1]))
		}
	}
	for _, h := range digestHits(s, d) {
		if have[h.Post.ID] {
			continue
		}
		if last == nil || !query.Less(s, last, h) {
			return true
		}
	}
	return false
}

// idPrefix is the part of a post ID a digest entry carries.
func idPrefix(id string) string {
	if len(id) > DigestIDChars {
		return id[:DigestIDChars]
	}
	return id
}

// digestHits are the well-formed entries of a digest as places in the sort
// order s, each named by its post's ID prefix, in the order sent.
func digestHits(s query.Sort, d *Response) []*query.Hit {
	out := make([]*query.Hit, 0, len(d.Digest))
	for _, e := range d.Digest {
		value, id, err := ParseDigestEntry(s, e)
		if err != nil {
			continue // a malformed entry names no post
		}
		out = append(out, sortPlace(s, value, id))
	}
	return out
}

// sortPlace is the place of sort value value and ID id in the order s, as
// a hit for comparing with query.Less.
func sortPlace(s query.Sort, value, id string) *query.Hit {
	h := &query.Hit{Sort: []string{value, id}, Post: &post.Post{ID: id}}
	if s != query.SortLatest {
		h.Score, _ = strconv.ParseFloat(value, 64)
	}
	return h
}

// gather asks the candidates, n at a time (at most all of them), for n
// answers: a failed request starts the next candidate at once, and every
// Config.HedgeAfter without n answers starts one more, so that an owner that is
// only slow is passed over while another candidate remains. gather returns
// once n answers are in, or once every candidate answered or failed (each
// is bounded by OwnerTimeout). It never settles for fewer answers because
// one came fast: n > 1 is asked for when one owner's answer is not enough
// (a cross-check, or owners that may still lack posts), and an owner that
// answers at once with nothing, a liar or a new owner still empty, would
// otherwise cut the others off. A refusal of the query itself ends it:
// every owner would refuse it too.
func (c *Coordinator) gather(ctx context.Context, cands []peer.ID, req *Request, n int) ([]*Response, []peer.ID, error) {
	if len(cands) == 0 {
		return nil, nil, errors.New("no owners")
	}
	n = min(n, len(cands))
	if n == 1 && cands[0] == c.tr.Self() {
		// This node's own answer needs no hedge, nor a goroutine: it
		// waits on no link. Only when it fails are the others asked.
		resp, err := c.searchOne(ctx, cands[0], req)
		var refused *RefusedError
		switch {
		case err == nil:
			return []*Response{resp}, []peer.ID{cands[0]}, nil
		case errors.As(err, &refused):
			return nil, nil, err
		case len(cands) == 1:
			return nil, nil, fmt.Errorf("every owner failed: %w", err)
		}
		cands = cands[1:]
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		resp *Response
		from peer.ID
		err  error
	}
	results := make(chan result, len(cands))
	next, running := 0, 0
	start := func() {
		p := cands[next]
		next++
		running++
		c.askers.run(func() {
			resp, err := c.searchOne(ctx, p, req)
			results <- result{resp, p, err}
		})
	}
	for next < n {
		start()
	}
	var resps []*Response
	var froms []peer.ID
	var errs []error
	hedge := time.NewTimer(c.cfg.HedgeAfter)
	defer hedge.Stop()
	for running > 0 && len(resps) < n {
		select {
		case r := <-results:
			running--
			if r.err != nil {
				var refused *RefusedError
				if errors.As(r.err, &refused) {
					return nil, nil, r.err // every owner would refuse it
				}
				errs = append(errs, r.err)
				if next < len(cands) {
					start()
				}
				continue
			}
			resps, froms = append(resps, r.resp), append(froms, r.from)
		case <-hedge.C:
			if next < len(cands) {
				start()
				hedge.Reset(c.cfg.HedgeAfter)
			}
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	if len(resps) == 0 {
		return nil, nil, fmt.Errorf("every owner failed: %w", errors.Join(errs...))
	}
	return resps, froms, nil
}

// SearchPeers asks up to n peers (this node first) to search their whole
// index, for a query the network cannot route. It returns the answers it
// got, how many peers it asked and how many failed, and a refusal of the
// query itself if one came.
func (c *Coordinator) searchPeers(ctx context.Context, n int, req *Request) (answers []*Response, asked, failed int, refused error) {
	peers := append([]peer.ID{c.tr.Self()}, c.tr.Members()...)
	if len(peers) > n {
		rest := peers[1:]
		rand.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
		peers = peers[:n]
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.searchOne(ctx, p, req)
			mu.Lock()
			defer mu.Unlock()
			var qr *RefusedError
			if errors.As(err, &qr) {
				refused = err
			}
			if err != nil {
				failed++
				return
			}
			answers = append(answers, resp)
		}()
	}
	wg.Wait()
	return answers, len(peers), failed, refused
}

// SuspectFor is how long an owner found short of a key's matches is asked
// last for that key.
const SuspectFor = 10 * time.Minute

// maxSuspects bounds the owners remembered as short.
const maxSuspects = 10_000

// suspect is an owner found short of a key.
type suspect struct {
	key string
	p   peer.ID
}

// searchOthers asks the owners of key that are not in asked, hedged, for
// a third opinion.
func (c *Coordinator) searchOthers(ctx context.Context, key string, req *Request, asked []peer.ID) (*Response, peer.ID, error) {
	owners, err := c.tr.Owners(ctx, key)
	if err != nil {
		return nil, "", fmt.Errorf("owners of %s: %w", key, err)
	}
	cands := slices.DeleteFunc(c.preferredFor(key, owners), func(p peer.ID) bool { return slices.Contains(asked, p) })
	resps, froms, err := c.gather(ctx, cands, req, 1)
	if err != nil {
		return nil, "", err
	}
	return resps[0], froms[0], nil
}

// recordShort counts the owners whose answer counts fewer matches than
// the largest count among resps, and asks them last for key for a while.
func (c *Coordinator) recordShort(key string, resps []*Response, from []peer.ID) {
	var most uint64
	for _, r := range resps {
		most = max(most, r.Total)
	}
	until := c.cfg.Now().Add(SuspectFor)
	c.suspectsMu.Lock()
	defer c.suspectsMu.Unlock()
	for i, r := range resps {
		if r.Total >= most {
			continue
		}
		if from[i] == c.tr.Self() {
			// This node is still asked first (preferredFor), but no
			// longer answers key alone (run.answersAlone) for a while.
			c.log.Info("this node counted fewer matches than another owner of the same key: another owner checks its pages of the key for a while", "key", key, "count", r.Total, "most", most)
		} else {
			c.metrics.disagreements.Inc()
			c.log.Info("an owner counted fewer matches than another owner of the same key", "key", key, "peer", from[i], "count", r.Total, "most", most)
		}
		if c.suspects == nil || len(c.suspects) >= maxSuspects {
			c.suspects = map[suspect]time.Time{}
		}
		c.suspects[suspect{key, from[i]}] = until
	}
}

// preferredFor orders the owners of key: this node first, then by
// measured latency, owners recently found short of key last.
func (c *Coordinator) preferredFor(key string, owners []peer.ID) []peer.ID {
	out := c.preferred(owners)
	self := c.tr.Self()
	short := func(p peer.ID) bool { return p != self && c.suspected(key, p) }
	sort.SliceStable(out, func(i, j int) bool { return !short(out[i]) && short(out[j]) })
	return out
}

// suspected reports whether p was found short of key's matches within
// SuspectFor.
func (c *Coordinator) suspected(key string, p peer.ID) bool {
	c.suspectsMu.Lock()
	defer c.suspectsMu.Unlock()
	until, ok := c.suspects[suspect{key, p}]
	return ok && c.cfg.Now().Before(until)
}

// preferred orders owners: this node first, then by measured latency.
func (c *Coordinator) preferred(owners []peer.ID) []peer.ID {
	out := append([]peer.ID(nil), owners...)
	self := c.tr.Self()
	rank := func(p peer.ID) time.Duration {
		if p == self {
			return -1
		}
		if l := c.tr.Latency(p); l > 0 {
			return l
		}
		return time.Hour
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

func (c *Coordinator) searchOne(ctx context.Context, p peer.ID, req *Request) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, OwnerTimeout)
	defer cancel()
	if p == c.tr.Self() {
		own := *req
		own.askedAt = c.cfg.Now()
		req = &own
	}
	resp, err := c.tr.Search(ctx, p, req)
	if err != nil {
		return nil, err
	}
	if err := CheckResponse(resp, req.Size, req.Span); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if resp.Refused != "" {
		return nil, &RefusedError{Msg: resp.Refused}
	}
	return resp, nil
}
