package p2p

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
)

// The search and stats protocols. A querier asks the owner of each key of
// its plan to run the query on its own index, restricted to that key's
// shard; it gathers the counts of keys (document frequencies) and each
// node's share of the collection statistics over the stats protocol.

// SearchRequest asks an owner to search its shard of the index. It carries
// the query in murmur's own language, not a bleve request: the owner parses
// and compiles it with the same bounded parser as its API, so a peer cannot
// make it run queries (regular expressions, geo, vectors) the language does
// not have.
type SearchRequest struct {
	Query string `json:"q"`
	Lang  string `json:"lang,omitempty"`
	Since string `json:"since,omitempty"`
	Until string `json:"until,omitempty"`
	Sort  string `json:"sort,omitempty"`
	// Size is how many hits to return, after After.
	Size  int      `json:"size"`
	After []string `json:"after,omitempty"`
	// Keys are the keys of the querier's plan; the owner answers for
	// Keys[Index] and leaves out posts under any earlier key, so the
	// answers of a plan never overlap. No keys means the whole index (a
	// best-effort search).
	Keys  []string `json:"keys,omitempty"`
	Index int      `json:"index"`
	// Stats are the network's statistics to score with; nil means the
	// owner's own.
	Stats *index.Stats `json:"stats,omitempty"`
}

// SearchHit is one hit: the signed post, its score and sort values, and the
// byte spans of its text that matched.
type SearchHit struct {
	Post  json.RawMessage `json:"post"`
	Score float64         `json:"score"`
	Sort  []string        `json:"sort"`
	Spans [][2]int        `json:"spans,omitempty"`
}

// SearchResponse is an owner's answer: its hits in order, how many posts of
// its shard match, and how many posts it holds under the key it answered for.
type SearchResponse struct {
	Hits  []SearchHit `json:"hits"`
	Total uint64      `json:"total"`
	Count int         `json:"count"`
	// Refused says why the owner would not run the query, when the query
	// itself is at fault (a term that expands too far): every owner would
	// refuse it alike.
	Refused string `json:"refused,omitempty"`
}

// QueryRefusedError is an owner's refusal of a query it judged at fault.
type QueryRefusedError struct{ Msg string }

func (e *QueryRefusedError) Error() string { return e.Msg }

// Searcher runs a search request on the node's own index; the node supplies
// it (the p2p package does not parse queries).
type Searcher func(ctx context.Context, req *SearchRequest) (*SearchResponse, error)

// statsRequest asks for the counts of keys and, optionally, the node's share
// of the collection statistics.
type statsRequest struct {
	Keys    []string `json:"keys,omitempty"`
	Summary bool     `json:"summary,omitempty"`
}

type statsResponse struct {
	Counts  []int    `json:"counts"`
	Summary *Summary `json:"summary,omitempty"`
}

// Bounds of the search and stats protocols.
const (
	// MaxSearchKeys bounds the keys of one plan.
	MaxSearchKeys = 256
	// MaxSearchSize bounds the hits of one answer.
	MaxSearchSize = 1001
	// MaxStatsTerms bounds the document frequencies a request carries.
	MaxStatsTerms = 256
	// MaxQueryBytes bounds the query text (as the query package does).
	MaxQueryBytes = 1024
	// SearchTimeout bounds one owner's answer to a search.
	SearchTimeout = 5 * time.Second
	// HedgeDelay is how long a querier waits for an owner before asking
	// another replica of the same key as well.
	HedgeDelay = 250 * time.Millisecond
	// MaxConcurrentSearches bounds the inbound searches served at once.
	MaxConcurrentSearches = 8
	// SummaryTTL is how long the network's statistics are reused.
	SummaryTTL = 30 * time.Second
	// MaxSummaryAge bounds how old the network's statistics may be when a
	// search uses them: older figures, those of a node that has not searched
	// for a while, are gathered again while the search waits.
	MaxSummaryAge = 4 * SummaryTTL
	// MaxSummaryPeers bounds the peers asked for their summary.
	MaxSummaryPeers = 64
)

func checkSearchRequest(m *SearchRequest) error {
	switch {
	case len(m.Query) > MaxQueryBytes:
		return fmt.Errorf("search query of %d bytes, limit %d", len(m.Query), MaxQueryBytes)
	case m.Size < 1 || m.Size > MaxSearchSize:
		return fmt.Errorf("search size %d; want 1 to %d", m.Size, MaxSearchSize)
	case len(m.After) > 2:
		return fmt.Errorf("search after %d values, want at most 2", len(m.After))
	case len(m.Keys) > MaxSearchKeys:
		return fmt.Errorf("search with %d keys, limit %d", len(m.Keys), MaxSearchKeys)
	case len(m.Keys) > 0 && (m.Index < 0 || m.Index >= len(m.Keys)):
		return fmt.Errorf("search index %d of %d keys", m.Index, len(m.Keys))
	case m.Stats != nil && len(m.Stats.DocFreq) > MaxStatsTerms:
		return fmt.Errorf("search with %d term statistics, limit %d", len(m.Stats.DocFreq), MaxStatsTerms)
	}
	if m.Stats != nil {
		if err := m.Stats.Check(); err != nil {
			return fmt.Errorf("search %w", err)
		}
	}
	for _, a := range m.After {
		if len(a) > 256 {
			return errors.New("search after value too long")
		}
	}
	for _, k := range m.Keys {
		if _, err := keyspace.Parse(k); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) handleSearch(st network.Stream) {
	var req SearchRequest
	s.serve(st, s.searchIn, &req, func(ctx context.Context, from peer.ID) (any, error) {
		// A term that expands (prefix, wildcard, fuzzy) costs up to
		// index.MaxExpansion posting lists: it spends more of the peer's
		// search rate than a plain one.
		if extra := expandingCost * expandingTerms(req.Query); extra > 0 && !s.searchIn.rate.AllowN(from, extra) {
			return nil, refuse(metrics.RefusedRateLimited, "%s is over its rate of searches with prefix, wildcard or fuzzy terms", from)
		}
		return s.answerSearch(ctx, &req)
	})
}

// expandingCost is what a prefix, wildcard or fuzzy term costs of a peer's
// search rate, in plain searches: with PeerSearchRate 200, a peer may ask
// ten such terms a second.
const expandingCost = 20

// expandingTerms counts the words of a query that expand: those with '*',
// '?' or '~'. It overcounts ones inside quotes, which is the safe side.
func expandingTerms(q string) int {
	n := 0
	for _, w := range strings.Fields(q) {
		if strings.ContainsAny(w, "*?~") {
			n++
		}
	}
	return n
}

func (s *Service) answerSearch(ctx context.Context, req *SearchRequest) (*SearchResponse, error) {
	if s.cfg.Searcher == nil {
		return nil, errors.New("this node does not serve searches")
	}
	ctx, cancel := context.WithTimeout(ctx, SearchTimeout)
	defer cancel()
	resp, err := s.cfg.Searcher(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.Refused != "" {
		return resp, nil
	}
	if len(req.Keys) > 0 {
		resp.Count = s.hold.Count(req.Keys[req.Index])
	}
	return resp, nil
}

func (s *Service) handleStats(st network.Stream) {
	var req statsRequest
	s.serve(st, s.statsIn, &req, func(ctx context.Context, from peer.ID) (any, error) {
		return s.answerStats(&req), nil
	})
}

func (s *Service) answerStats(req *statsRequest) *statsResponse {
	resp := &statsResponse{Counts: make([]int, len(req.Keys))}
	for i, k := range req.Keys {
		resp.Counts[i] = s.hold.Count(k)
	}
	if req.Summary {
		sum := s.localSummary()
		resp.Summary = &sum
	}
	return resp
}

// SearchKeyN asks n owners of key to answer req, each hedged over the
// remaining owners, and returns every answer it got: while the network
// settles a new owner may not hold all of a key's posts yet, and the union
// of the owners' answers covers it.
func (s *Service) SearchKeyN(ctx context.Context, key string, req *SearchRequest, n int) ([]*SearchResponse, []peer.ID, error) {
	owners, err := s.Owners(ctx, key)
	if err != nil {
		return nil, nil, fmt.Errorf("owners of %s: %w", key, err)
	}
	cands := s.preferred(owners)
	if n <= 1 || len(cands) < 2 {
		resp, from, err := s.searchHedged(ctx, cands, req)
		if err != nil {
			return nil, nil, err
		}
		return []*SearchResponse{resp}, []peer.ID{from}, nil
	}
	// Split the candidates between n hedged chains: chain i starts at
	// candidate i and falls back to the ones after the chains' starts.
	n = min(n, len(cands))
	type got struct {
		resp *SearchResponse
		from peer.ID
		err  error
	}
	results := make([]got, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		chain := []peer.ID{cands[i]}
		for j := n + i; j < len(cands); j += n {
			chain = append(chain, cands[j])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, from, err := s.searchHedged(ctx, chain, req)
			results[i] = got{resp, from, err}
		}()
	}
	wg.Wait()
	var resps []*SearchResponse
	var froms []peer.ID
	var errs []error
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		resps = append(resps, r.resp)
		froms = append(froms, r.from)
	}
	if len(resps) == 0 {
		return nil, nil, errors.Join(errs...)
	}
	return resps, froms, nil
}

// SearchKey asks the owners of key to answer req: the first owner (this
// node itself when it is one), then, after HedgeDelay or at once when one
// fails, the next, until one answers. It returns the answer and who gave it.
func (s *Service) SearchKey(ctx context.Context, key string, req *SearchRequest) (*SearchResponse, peer.ID, error) {
	owners, err := s.Owners(ctx, key)
	if err != nil {
		return nil, "", fmt.Errorf("owners of %s: %w", key, err)
	}
	return s.searchHedged(ctx, s.preferred(owners), req)
}

// SearchPeers asks up to n peers (this node first) to search their whole
// index, for a query the network cannot route. It returns the answers it
// got, how many peers it asked and how many failed, and a refusal of the
// query itself if one came.
func (s *Service) SearchPeers(ctx context.Context, n int, req *SearchRequest) (answers []*SearchResponse, asked, failed int, refused error) {
	peers := append([]peer.ID{s.self}, s.dht.RoutingTable().ListPeers()...)
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
			resp, err := s.searchOne(ctx, p, req)
			mu.Lock()
			defer mu.Unlock()
			var qr *QueryRefusedError
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

// preferred orders owners: this node first, then by measured latency.
func (s *Service) preferred(owners []peer.ID) []peer.ID {
	out := append([]peer.ID(nil), owners...)
	ps := s.host.Peerstore()
	rank := func(p peer.ID) time.Duration {
		if p == s.self {
			return -1
		}
		if l := ps.LatencyEWMA(p); l > 0 {
			return l
		}
		return time.Hour
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

func (s *Service) searchOne(ctx context.Context, p peer.ID, req *SearchRequest) (*SearchResponse, error) {
	if p == s.self {
		resp, err := s.answerSearch(ctx, req)
		if err == nil && resp.Refused != "" {
			return nil, &QueryRefusedError{Msg: resp.Refused}
		}
		return resp, err
	}
	ctx, cancel := context.WithTimeout(ctx, SearchTimeout)
	defer cancel()
	var resp SearchResponse
	if err := s.call(ctx, p, SearchProtocol(s.cfg.Network), metrics.ProtocolSearch, req, &resp); err != nil {
		return nil, err
	}
	if len(resp.Hits) > req.Size {
		return nil, fmt.Errorf("search answer from %s has %d hits, asked for %d", p, len(resp.Hits), req.Size)
	}
	if resp.Refused != "" {
		return nil, &QueryRefusedError{Msg: resp.Refused}
	}
	return &resp, nil
}

// searchHedged asks the candidates in turn: the next one starts when the
// previous fails or after HedgeDelay without an answer. The first answer
// wins and cancels the rest.
func (s *Service) searchHedged(ctx context.Context, cands []peer.ID, req *SearchRequest) (*SearchResponse, peer.ID, error) {
	if len(cands) == 0 {
		return nil, "", errors.New("no owners")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		resp *SearchResponse
		from peer.ID
		err  error
	}
	results := make(chan result, len(cands))
	next, running := 0, 0
	start := func() {
		p := cands[next]
		next++
		running++
		go func() {
			resp, err := s.searchOne(ctx, p, req)
			results <- result{resp, p, err}
		}()
	}
	start()
	var errs []error
	timer := time.NewTimer(HedgeDelay)
	defer timer.Stop()
	for running > 0 {
		select {
		case r := <-results:
			running--
			if r.err == nil {
				return r.resp, r.from, nil
			}
			var refused *QueryRefusedError
			if errors.As(r.err, &refused) {
				return nil, r.from, r.err // the next owner would refuse it too
			}
			errs = append(errs, r.err)
			if next < len(cands) {
				start()
			}
		case <-timer.C:
			if next < len(cands) {
				start()
				timer.Reset(HedgeDelay)
			}
		case <-ctx.Done():
			return nil, "", ctx.Err()
		}
	}
	return nil, "", fmt.Errorf("every owner failed: %w", errors.Join(errs...))
}

// KeyCounts returns how many posts the owners of each key hold under it: for
// a term key, the term's document frequency in the network (or in its
// shard). Every owner of a key is asked, in one round, and the key counts
// at the median of their answers (the larger of two: an owner still
// missing posts counts fewer), so that no one owner steers the plan or the
// ranking. A key whose owners all fail is left out.
func (s *Service) KeyCounts(ctx context.Context, keys []string) map[string]int {
	byOwner := map[peer.ID][]string{}
	for _, k := range keys {
		owners, err := s.Owners(ctx, k)
		if err != nil {
			continue
		}
		for _, o := range owners {
			byOwner[o] = append(byOwner[o], k)
		}
	}
	var mu sync.Mutex
	got := make(map[string][]int, len(keys))
	refused := map[peer.ID][]string{}
	ask := func(p peer.ID, ks []string) {
		start := time.Now()
		counts, err := s.counts(ctx, p, ks)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if time.Since(start) < HedgeDelay {
				refused[p] = append(refused[p], ks...)
			}
			return
		}
		for i, k := range ks {
			got[k] = append(got[k], counts[i])
		}
	}
	s.fanOut(byOwner, ask)
	// An owner that refused at once (a reset, a full queue) is asked again.
	if len(refused) > 0 && ctx.Err() == nil {
		again := refused
		refused = map[peer.ID][]string{}
		s.fanOut(again, ask)
	}
	out := make(map[string]int, len(got))
	for k, cs := range got {
		slices.Sort(cs)
		if len(cs) == 2 {
			out[k] = cs[1]
		} else {
			out[k] = cs[(len(cs)-1)/2]
		}
	}
	return out
}

// fanOut runs ask for each peer's keys, in batches of MaxStatsTerms, at
// most 16 at a time.
func (s *Service) fanOut(byOwner map[peer.ID][]string, ask func(peer.ID, []string)) {
	var g errgroup.Group
	g.SetLimit(16)
	for p, ks := range byOwner {
		for len(ks) > 0 {
			n := min(len(ks), MaxStatsTerms)
			batch := ks[:n]
			ks = ks[n:]
			g.Go(func() error { ask(p, batch); return nil })
		}
	}
	_ = g.Wait() // ask records its own failures
}

func (s *Service) counts(ctx context.Context, p peer.ID, keys []string) ([]int, error) {
	if p == s.self {
		return s.answerStats(&statsRequest{Keys: keys}).Counts, nil
	}
	ctx, cancel := context.WithTimeout(ctx, SearchTimeout)
	defer cancel()
	var resp statsResponse
	if err := s.call(ctx, p, StatsProtocol(s.cfg.Network), metrics.ProtocolStats, &statsRequest{Keys: keys}, &resp); err != nil {
		if errors.Is(err, errImplausible) {
			s.countRefused(metrics.ProtocolStats, metrics.RefusedImplausible)
		}
		return nil, err
	}
	if len(resp.Counts) != len(keys) {
		return nil, fmt.Errorf("stats answer from %s has %d counts for %d keys", p, len(resp.Counts), len(keys))
	}
	return resp.Counts, nil
}
