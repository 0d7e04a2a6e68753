package netsearch

import (
	"context"
	"crypto/sha256"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
)

// A plan of several units (an author's 16 shards, a split term's leaves,
// an OR's keys) asks
// each for what it may add to the page: a split key's shards their
// binomial share and a margin (spanSize), other keys a whole page. Most
// of those hits never make the page: at N=32 a stop word's first page of
// 10 carried 40 posts when stop words were split 16 ways (protocol 3). Digests first asks the units for digests instead
// (each hit's sort value and the start of its ID, with a checksum from a
// second owner), cuts the page from the digests and the other units'
// answers, and then fetches whole only the hits that made it, each from
// an owner whose digest named it. A page of 10 then carries about 10
// posts, for one more round trip. A plan of one unit needs every hit it
// asks for, and is asked whole.
//
// The digests' scores are the owners' claims: they choose what to fetch,
// never what the page holds. The fetched hits are checked and rescored
// like any answer, and the merge asks again, whole, a unit whose next hit,
// by its digest, may belong to the page after all (only the first round
// asks for digests: a unit asked again is cut on its hits' recomputed
// scores, so an owner that claims more than it holds costs one round).
// Owners whose digests (or checksums) differ, one lying about its scores
// or leaving posts out, or one still short of posts, are asked whole
// instead, as without digests.

// digestUnits reports which units are asked for digests first: those of
// a plan of several that this node does not own (its own index answers
// whole at no cost on the wire), when what they would send whole comes to
// Config.DigestsFirstPages pages or more, and the round trip a fetch
// round adds (the slowest unit's fastest owner) is at most
// Config.DigestsFirstMaxRTT. Otherwise the round trip costs more than the
// posts it saves.
func (r *run) digestUnits(ctx context.Context) []bool {
	out := make([]bool, len(r.units))
	if !r.digestFirst || len(r.units) < 2 {
		return out
	}
	whole := 0
	var slowest time.Duration // the round trip a fetch round would add
	for i, un := range r.units {
		if r.deferred != nil && r.deferred[i] {
			continue // asked for its counts alone
		}
		owners, err := r.c.tr.Owners(ctx, r.keys[un.lo])
		if err != nil || len(owners) == 0 || slices.Contains(owners, r.c.tr.Self()) {
			continue
		}
		out[i] = true
		whole += r.sizes[i]
		fastest := time.Duration(math.MaxInt64)
		for _, o := range owners {
			fastest = min(fastest, r.c.tr.Latency(o)) // 0: not measured yet
		}
		slowest = max(slowest, fastest)
	}
	if float64(whole) < r.c.cfg.DigestsFirstPages*float64(r.p.Limit+1) || slowest > r.c.cfg.DigestsFirstMaxRTT {
		clear(out)
	}
	return out
}

// digest is what the owners of a unit asked for digests first sent.
type digest struct {
	// hits are the owners' digest hits, each post once where it sorts
	// first by any owner's claim, in order.
	hits []*query.Hit
	// full: an owner's digest filled the size asked, so the shard may
	// hold more after its hits.
	full bool
	// from are the owners that sent a digest, first to answer first.
	from []peer.ID
}

// askDigest asks the owners of unit i for digests of their hits after
// after, keeps the unit's counts and total as any answer's, and returns
// the digests; nil when the unit failed. Owners whose digests differ
// (one lacks posts, or lies) are asked whole instead: their hits are
// rescored, and no claim of theirs decides where the unit resumes.
func (r *run) askDigest(ctx context.Context, i int, after []string) *digest {
	req := r.request(i, after)
	req.Digest = true
	resps, from, err := r.askOwners(ctx, i, &req)
	if err == nil && !sameDigests(resps) {
		r.ask(ctx, i, after)
		return nil
	}
	// The counts, the total and the asked owners, as any answer's; no hits.
	empty := make([]*Response, len(resps))
	for j, resp := range resps {
		empty[j] = &Response{Total: resp.Total, Count: resp.Count, Counts: resp.Counts}
	}
	r.keep(i, &req, empty, from, err)
	if err != nil {
		return nil
	}
	d := &digest{from: from}
	first := map[string]*query.Hit{}
	for _, resp := range resps {
		if len(resp.Digest) >= req.Size {
			d.full = true
		}
		for _, h := range digestHits(r.p.Sort, resp) {
			if was, ok := first[h.Post.ID]; !ok || query.Less(r.p.Sort, h, was) {
				first[h.Post.ID] = h
			}
		}
	}
	for _, h := range first {
		d.hits = append(d.hits, h)
	}
	slices.SortFunc(d.hits, func(a, b *query.Hit) int { return compareHits(r.p.Sort, a, b) })
	return d
}

// fetchPage cuts the page from the hits so far and the digests, by the
// owners' claims, and fetches whole the hits of each unit's digest
// (digests[i]) that made it. A unit's answer then says, through its last
// hit, that it holds nothing unseen before its next digest hit, so that
// the merge asks it again only when that hit may belong to the page. A
// unit whose owners do not send the hits they named is asked whole, as
// without digests.
func (r *run) fetchPage(ctx context.Context, digests []*digest) {
	type candidate struct {
		hit    *query.Hit
		unit   int
		digest bool
	}
	var cands []candidate
	for i, d := range digests {
		if a := r.answers[i]; a != nil {
			for k := range a.Hits {
				cands = append(cands, candidate{&a.Hits[k], i, false})
			}
		}
		if d != nil {
			for _, h := range d.hits {
				cands = append(cands, candidate{h, i, true})
			}
		}
	}
	slices.SortStableFunc(cands, func(a, b candidate) int { return compareHits(r.p.Sort, a.hit, b.hit) })
	onPage := make([]int, len(digests))
	seen := map[string]bool{}
	for _, c := range cands {
		if len(seen) == r.p.Limit {
			break
		}
		if !seen[c.hit.Post.ID] {
			seen[c.hit.Post.ID] = true
			if c.digest {
				onPage[c.unit]++
			}
		}
	}
	var units []int
	for i, d := range digests {
		if d != nil {
			units = append(units, i)
		}
	}
	var asked atomic.Bool // a unit was asked again: one more round
	r.forEach(units, func(i int) {
		if onPage[i] > 0 {
			asked.Store(true)
		}
		if !r.fetch(ctx, i, digests[i], onPage[i]) {
			asked.Store(true)
			r.ask(ctx, i, r.p.After)
		}
	})
	if asked.Load() {
		r.rounds++
	}
}

// fetch asks unit i's owners for its first n hits whole, in the order
// their digests came, until one answer holds every post the digest d
// named among them. It reports false when no owner's did, or when d
// leaves no place to resume from: the caller asks the unit whole.
func (r *run) fetch(ctx context.Context, i int, d *digest, n int) bool {
	var next *query.Hit // a place just before the unit's next hit by the digests
	if len(d.hits) > n {
		next = justBefore(d.hits[n])
		if next == nil {
			return false
		}
	}
	if n == 0 {
		if d.full && next == nil {
			return false // a full digest of malformed hits: no place to resume from
		}
		r.setDigestAnswer(i, nil, next, next != nil, nil)
		return true
	}
	req := r.request(i, r.p.After)
	req.Size = n
	want := d.hits[:n]
	var from []peer.ID
	for cands := d.from; len(cands) > 0; {
		// Hedged as any request: an owner slow to answer is passed over
		// for the next after HedgeDelay.
		resps, froms, err := r.c.gather(ctx, cands, &req, 1)
		if err != nil {
			r.c.log.Debug("no owner sent the hits its digest named", "key", r.keys[r.units[i].lo], "err", err)
			break
		}
		p := froms[0]
		cands = slices.DeleteFunc(slices.Clone(cands), func(q peer.ID) bool { return q == p })
		from = append(from, p)
		var last *query.Hit
		hits := r.c.checkHits(r.p, resps[0].Hits, r.parsed[r.units[i].lo:r.units[i].hi], &last, nil)
		if !holdsAll(hits, want) {
			continue
		}
		if next == nil && d.full {
			// Nothing of the digests after its last hit: the shard may
			// hold more after the last hit fetched.
			next = last
		}
		r.setDigestAnswer(i, hits, next, d.full || len(d.hits) > n, from)
		return true
	}
	r.mu.Lock()
	for _, p := range from {
		r.asked[p] = true
	}
	r.mu.Unlock()
	return false
}

// setDigestAnswer sets unit i's answer to the hits fetched after digests:
// it may hold more (more), and nothing unseen before next.
func (r *run) setDigestAnswer(i int, hits []query.Hit, next *query.Hit, more bool, from []peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range from {
		r.asked[p] = true
	}
	a := r.answers[i]
	if a == nil {
		a = &query.ShardAnswer{}
		r.answers[i] = a
	}
	a.Hits = append(a.Hits, hits...)
	a.More = more
	a.Last = nil
	r.fullLasts[i] = nil
	if more && next != nil {
		r.fullLasts[i] = []*query.Hit{next}
	}
}

// compareHits orders a and b as query.Less does, for slices.SortFunc.
func compareHits(s query.Sort, a, b *query.Hit) int {
	switch {
	case query.Less(s, a, b):
		return -1
	case query.Less(s, b, a):
		return 1
	}
	return 0
}

// sameDigests reports whether the owners' digests, or their checksums,
// name the same hits with the same sort values, in the same order.
func sameDigests(resps []*Response) bool {
	var sum string
	for _, r := range resps {
		if r.DigestSum == "" {
			sum = SumDigest(r.Digest)
			break
		}
	}
	for _, r := range resps {
		if got := string(r.DigestSum); got == "" && SumDigest(r.Digest) != sum || got != "" && got != sum {
			return false
		}
	}
	return true
}

// holdsAll reports whether hits hold every post of want, which digests
// name by their IDs' prefixes.
func holdsAll(hits []query.Hit, want []*query.Hit) bool {
	have := make(map[string]bool, len(hits))
	for _, h := range hits {
		have[idPrefix(h.Post.ID)] = true
	}
	for _, w := range want {
		if !have[w.Post.ID] {
			return false
		}
	}
	return true
}

// justBefore is the place in the sort order just before every post whose
// ID begins with h's ID (a digest's prefix, or a whole ID): h's sort value
// and the greatest ID of the prefix one less. Searching after it starts at
// h. It returns nil for a prefix of zeros, which has no place before it.
func justBefore(h *query.Hit) *query.Hit {
	id := []byte(h.Post.ID)
	k := len(id) - 1
	for ; k >= 0 && id[k] == '0'; k-- {
		id[k] = 'f'
	}
	if k < 0 {
		return nil
	}
	switch {
	case id[k] == 'a':
		id[k] = '9'
	default:
		id[k]--
	}
	for len(id) < 2*sha256.Size {
		id = append(id, 'f')
	}
	before := string(id)
	return &query.Hit{Score: h.Score, Sort: []string{h.Sort[0], before}, Post: &post.Post{ID: before}}
}
