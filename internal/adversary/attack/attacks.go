package attack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// The attacker's own definitions of murmur's messages (JSON, one
// length-prefixed message each way).
type (
	storeItem struct {
		Post json.RawMessage `json:"post"`
		Keys []string        `json:"keys"`
	}
	storeRequest struct {
		Posts      []storeItem       `json:"posts,omitempty"`
		Tombstones []json.RawMessage `json:"tombstones,omitempty"`
	}
	storeResult struct {
		Error    string   `json:"error"`
		Reason   string   `json:"reason"`
		BadKeys  []string `json:"bad_keys"`
		NotOwned []string `json:"not_owned"`
	}
	storeResponse struct {
		Posts      []storeResult `json:"posts"`
		Tombstones []string      `json:"tombstones"`
	}
	keyIDs struct {
		Key string   `json:"k"`
		IDs []string `json:"ids"`
	}
	syncRequest struct {
		Lists []keyIDs `json:"lists"`
	}
	statsRequest struct {
		Keys    []string `json:"keys"`
		Summary bool     `json:"summary"`
	}
	group struct {
		Owners []string `json:"owners"`
		Posts  uint64   `json:"posts"`
		Terms  uint64   `json:"terms"`
		Hot    []string `json:"hot,omitempty"`
	}
	summary struct {
		Groups []group `json:"groups"`
	}
	statsResponse struct {
		Counts  []int    `json:"counts"`
		Summary *summary `json:"summary,omitempty"`
	}
)

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// forEachPeer runs fn for every peer, workers at a time each, until fn
// returns or ctx ends, and waits for them.
func (e *env) forEachPeer(ctx context.Context, workers int, fn func(ctx context.Context, p peer.ID)) {
	var wg sync.WaitGroup
	for _, p := range e.peers() {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fn(ctx, p)
			}()
		}
	}
	wg.Wait()
}

// foundPost is what an attack keeps of a post it found.
type foundPost struct{ Author, Text string }

// findPosts pages through every post the peers hold, by a date-only query
// (which no key routes, so each peer searches its whole index), up to max
// from each peer. The peers are asked at once: one after another, on a
// loaded machine the search took the attack's whole duration and it sent
// nothing.
func (e *env) findPosts(ctx context.Context, max int) map[string]foundPost {
	found := map[string]foundPost{} // by ID
	var mu sync.Mutex
	e.forEachPeer(ctx, 1, func(ctx context.Context, p peer.ID) {
		var after []string
		n := 0
		for page := 0; page < 50 && n < max; page++ {
			req := netsearch.Request{Query: "since:1970-01-01", Sort: "latest", Size: 1000, After: after}
			var resp netsearch.Response
			if err := e.exchange(ctx, p, p2p.SearchProtocolJSON(e.cfg.Network), &req, &resp); err != nil {
				e.rep.Add("searches for posts failed", 1)
				return
			}
			mu.Lock()
			for _, h := range resp.Hits {
				var po struct{ ID, Author, Text string }
				if json.Unmarshal(h.Post, &po) == nil && po.ID != "" {
					found[po.ID] = foundPost{po.Author, po.Text}
					n++
				}
			}
			mu.Unlock()
			if len(resp.Hits) < req.Size {
				return
			}
			after = resp.Hits[len(resp.Hits)-1].Sort
		}
	})
	return found
}

// forgedTombstones finds posts and sends every peer tombstones for them
// signed with the attacker's key, again every two seconds so that nodes
// that join get them before the posts.
func forgedTombstones(ctx context.Context, e *env) error {
	self := e.svc.ID().String()
	forged := map[string]json.RawMessage{}
	for ctx.Err() == nil {
		for id, found := range e.findPosts(ctx, 100_000) {
			if _, ok := forged[id]; ok || found.Author == self {
				continue
			}
			t, err := post.SignTombstone(e.key, id, time.Now())
			if err != nil {
				return err
			}
			raw, _ := json.Marshal(t)
			forged[id] = raw
		}
		all := slices.Collect(maps.Values(forged))
		for _, p := range e.peers() {
			for start := 0; start < len(all) && ctx.Err() == nil; start += 500 {
				batch := all[start:min(start+500, len(all))]
				var resp storeResponse
				if err := e.exchange(ctx, p, p2p.StoreProtocol(e.cfg.Network), &storeRequest{Tombstones: batch}, &resp); err != nil {
					e.rep.Add("requests refused or failed", 1)
					continue
				}
				e.rep.Add("tombstones sent", len(batch))
				for _, r := range resp.Tombstones {
					switch {
					case r == "":
						e.rep.Add("tombstones taken (applied, or waiting for a post)", 1)
					case strings.Contains(r, "not the post's author"):
						e.rep.Add("tombstones refused: not the post's author", 1)
					case strings.Contains(r, "too many"):
						e.rep.Add("tombstones refused: too many waiting", 1)
					default:
						e.rep.Add("tombstones refused: other", 1)
					}
				}
			}
		}
		e.rep.Set("posts found", len(forged))
		if err := pause(ctx, 2*time.Second); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// poisonedStats answers every statistics request with lies: key counts of
// a million, the figures of the attacker's own owner groups inflated a
// thousandfold, and a group it invents with a stranger.
func poisonedStats(ctx context.Context, e *env) error {
	var mu sync.Mutex
	var groups []group
	var at time.Time
	stranger := randomPeer()
	lies := func() []group {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(at) > 5*time.Second {
			groups, at = e.inflatedGroups(ctx, stranger), time.Now()
		}
		return groups
	}
	h := e.svc.Host()
	// The liar speaks the stats protocol's JSON version alone, as a node
	// of the version before: its peers fall back to it.
	for _, id := range []protocol.ID{p2p.StatsProtocol(e.cfg.Network), p2p.StatsProtocolCBOR(e.cfg.Network)} {
		h.RemoveStreamHandler(id)
		p2p.ResetStreams(h, id)
	}
	h.SetStreamHandler(p2p.StatsProtocolJSON(e.cfg.Network), func(st network.Stream) {
		st.SetDeadline(time.Now().Add(10 * time.Second))
		var req statsRequest
		if err := readJSON(st, &req); err != nil {
			st.Reset()
			return
		}
		resp := statsResponse{Counts: make([]int, len(req.Keys))}
		for i := range resp.Counts {
			resp.Counts[i] = 1_000_000
		}
		if req.Summary {
			resp.Summary = &summary{Groups: lies()}
		}
		if err := writeJSON(st, resp); err != nil {
			st.Reset()
			return
		}
		st.Close()
		e.rep.Add("statistics answered with lies", 1)
		if req.Summary {
			e.rep.Add("summaries answered with lies", 1)
		}
	})
	<-ctx.Done()
	return ctx.Err()
}

// inflatedGroups are the attacker's owner groups, as an honest member would
// report them, inflated, and one invented.
func (e *env) inflatedGroups(ctx context.Context, stranger peer.ID) []group {
	self := e.svc.ID()
	byKey := map[string]*group{}
	_ = e.ix.Walk(ctx, func(po *post.Post) error {
		for _, k := range keyspace.Keys(po) {
			owners, err := e.svc.Owners(ctx, k)
			if err != nil || !slices.Contains(owners, self) {
				continue
			}
			names := make([]string, len(owners))
			for i, o := range owners {
				names[i] = o.String()
			}
			sort.Strings(names)
			gk := strings.Join(names, ",")
			g := byKey[gk]
			if g == nil {
				g = &group{Owners: names}
				byKey[gk] = g
			}
			if strings.HasPrefix(k, keyspace.ClassAuthor+"/") {
				g.Posts++
			} else {
				g.Terms++
			}
		}
		return nil
	})
	var out []group
	for _, g := range byKey {
		g.Posts, g.Terms = g.Posts*1000+1000, g.Terms*1000+1000
		out = append(out, *g)
	}
	return append(out, group{Owners: []string{self.String(), stranger.String()}, Posts: 1 << 30, Terms: 1 << 30})
}

func randomPeer() peer.ID {
	_, pub, _ := crypto.GenerateEd25519Key(nil)
	id, _ := peer.IDFromPublicKey(pub)
	return id
}

// idleStreams keeps up to 32 streams of each murmur protocol open to every
// peer, sending a length prefix and nothing more, and opens new ones as
// the peer resets them.
func idleStreams(ctx context.Context, e *env) error {
	protos := []protocol.ID{
		p2p.StoreProtocol(e.cfg.Network), p2p.SyncProtocol(e.cfg.Network),
		p2p.StatsProtocol(e.cfg.Network), p2p.SearchProtocol(e.cfg.Network),
	}
	e.forEachPeer(ctx, 32, func(ctx context.Context, p peer.ID) {
		for i := 0; ctx.Err() == nil; i++ {
			proto := protos[i%len(protos)]
			octx, cancel := context.WithTimeout(ctx, 2*time.Second)
			st, err := e.svc.Host().NewStream(octx, p, proto)
			cancel()
			if err != nil {
				e.rep.Add("streams refused at opening", 1)
				_ = pause(ctx, 200*time.Millisecond)
				continue
			}
			e.rep.Add("idle streams opened", 1)
			st.Write([]byte{0x10}) // a request of 16 bytes is coming...
			d, _ := ctx.Deadline()
			st.SetReadDeadline(d)
			if _, err := st.Read(make([]byte, 1)); err != nil && ctx.Err() == nil {
				e.rep.Add("idle streams closed by the node", 1)
			}
			st.Reset()
		}
	})
	return ctx.Err()
}

// syncFlood asks every peer, four requests at a time, which of 20,000
// random IDs it lacks under a hot key.
func syncFlood(ctx context.Context, e *env) error {
	ids := make([]string, 20_000)
	for i := range ids {
		var b [32]byte
		rand.Read(b[:])
		ids[i] = hex.EncodeToString(b[:])
	}
	// Encoded once: the flood should cost the nodes, not the attacker.
	req, err := json.Marshal(syncRequest{Lists: []keyIDs{{Key: keyspace.TermKeys("the")[0], IDs: ids}}})
	if err != nil {
		return err
	}
	e.forEachPeer(ctx, 4, func(ctx context.Context, p peer.ID) {
		for ctx.Err() == nil {
			var resp json.RawMessage
			e.rep.Add("sync requests sent", 1)
			if err := e.exchange(ctx, p, p2p.SyncProtocol(e.cfg.Network), json.RawMessage(req), &resp); err != nil {
				if ctx.Err() == nil {
					e.rep.Add("sync requests refused or reset", 1)
				}
				_ = pause(ctx, 10*time.Millisecond) // cut off, most likely: try again at once
				continue
			}
			e.rep.Add("sync requests answered", 1)
		}
	})
	return ctx.Err()
}

// words are the vocabulary of the attacker's posts.
var words = strings.Fields("storm harbor lantern meadow quartz velvet falcon ember thistle orchard granite willow " +
	"copper saffron tundra marble comet ivory nectar basalt cobalt juniper raven prairie")

func randomText(n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = words[mrand.IntN(len(words))]
	}
	return strings.Join(w, " ") + fmt.Sprintf(" %d", mrand.Uint64())
}

// unownedWrites sends each post's keys to peers that are not among the
// R+OwnerMargin closest to them.
func unownedWrites(ctx context.Context, e *env) error {
	for ctx.Err() == nil {
		perPeer := map[peer.ID][]storeItem{}
		peers := e.peers()
		for range 100 {
			po, err := post.Sign(e.key, post.Draft{Text: randomText(3)}, time.Now())
			if err != nil {
				return err
			}
			raw, _ := json.Marshal(po)
			byPeer := map[peer.ID][]string{}
			for _, k := range keyspace.Keys(po) {
				for _, p := range farFrom(k, peers, e.svc.ID(), e.cfg.Replicas+p2p.OwnerMargin) {
					byPeer[p] = append(byPeer[p], k)
				}
			}
			for p, ks := range byPeer {
				perPeer[p] = append(perPeer[p], storeItem{Post: raw, Keys: ks})
			}
		}
		for p, items := range perPeer {
			var resp storeResponse
			if err := e.exchange(ctx, p, p2p.StoreProtocol(e.cfg.Network), &storeRequest{Posts: items}, &resp); err != nil {
				e.rep.Add("requests refused or failed", 1)
				continue
			}
			for i, r := range resp.Posts {
				if i >= len(items) {
					break
				}
				e.rep.Add("keys sent to a node that does not own them", len(items[i].Keys))
				if r.Error != "" {
					e.rep.Add("posts refused: "+orOther(r.Reason), 1)
					continue
				}
				e.rep.Add("keys refused: not_owner", len(r.NotOwned))
				e.rep.Add("keys taken by a node that does not own them", len(items[i].Keys)-len(r.NotOwned)-len(r.BadKeys))
			}
		}
		if err := pause(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func orOther(reason string) string {
	if reason == "" {
		return "other"
	}
	return reason
}

// farFrom lists the peers that are not among the n closest to key, of
// peers and self.
func farFrom(key string, peers []peer.ID, self peer.ID, n int) []peer.ID {
	all := append(slices.Clone(peers), self)
	target := kb.ConvertKey(key)
	sort.Slice(all, func(i, j int) bool {
		di := kb.ConvertPeerID(all[i])
		dj := kb.ConvertPeerID(all[j])
		return string(xor(di, target)) < string(xor(dj, target))
	})
	var out []peer.ID
	for i, p := range all {
		if i >= n && p != self {
			out = append(out, p)
		}
	}
	return out
}

func xor(a, b kb.ID) []byte {
	out := make([]byte, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}

// writeFlood signs fresh posts with several fresh identities and places
// them at their owners as fast as it can, as a spammer with cheap keys
// would.
func writeFlood(ctx context.Context, e *env) error {
	keys, err := freshKeys(e.cfg.Identities)
	if err != nil {
		return err
	}
	for i := 0; ctx.Err() == nil; i++ {
		key := keys[i%len(keys)]
		posts := make([]*post.Post, 0, 200)
		for range 200 {
			po, err := post.Sign(key, post.Draft{Text: randomText(6)}, time.Now())
			if err != nil {
				return err
			}
			posts = append(posts, po)
		}
		if err := e.storeAndPlace(ctx, posts); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// freshKeys makes n new author keys.
func freshKeys(n int) ([]crypto.PrivKey, error) {
	keys := make([]crypto.PrivKey, n)
	for i := range keys {
		k, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
}

// placeWhole bounds how long a batch the attacker stored is still placed
// after the attack is told to stop.
const placeWhole = 30 * time.Second

// storeAndPlace stores the attacker's posts in its own index, places them
// at their owners and counts what came of them. A batch stored is placed
// whole, even when the attack is told to stop meanwhile: a writer cut off
// halfway leaves posts at fewer owners than W, whom only the next full
// sync (p2p.Config.FullSyncInterval) completes, and that is not what the
// writing attacks measure.
func (e *env) storeAndPlace(ctx context.Context, posts []*post.Post) error {
	if _, err := e.ix.Put(ctx, posts...); err != nil {
		return fmt.Errorf("the attacker's own store: %w", err)
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), placeWhole)
	defer cancel()
	for _, err := range e.svc.Place(pctx, posts) {
		var short *p2p.ShortError
		switch {
		case err == nil:
			e.rep.Add("posts placed at their owners", 1)
		case errors.As(err, &short):
			e.rep.Add("posts refused by some owners", 1)
		}
	}
	e.rep.Add("posts written", len(posts))
	return nil
}

// costlyQueries asks every peer, four at a time, searches that cost the
// most: many fuzzy terms, a one-letter prefix, wildcards.
func costlyQueries(ctx context.Context, e *env) error {
	queries := []string{
		strings.Repeat("harbor~2 ", 60),
		"a*", "e*", "*e*", "s*a*", "tundra~2 storm~2 ember~2 raven~2",
	}
	e.forEachPeer(ctx, 4, func(ctx context.Context, p peer.ID) {
		for i := 0; ctx.Err() == nil; i++ {
			req := netsearch.Request{Query: queries[i%len(queries)], Sort: "top", Size: 100}
			var resp netsearch.Response
			err := e.exchange(ctx, p, p2p.SearchProtocolJSON(e.cfg.Network), &req, &resp)
			switch {
			case ctx.Err() != nil:
			case err != nil:
				e.rep.Add("searches refused or reset", 1)
				_ = pause(ctx, 10*time.Millisecond)
			case resp.Refused != "":
				e.rep.Add("searches refused as too costly", 1)
			default:
				e.rep.Add("searches answered", 1)
			}
		}
	})
	return ctx.Err()
}
