package p2p

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// The search and stats protocols, the transport of network search: a
// querier (query/netsearch) asks an owner of each key of its plan to run
// the query on its own index, restricted to that key's shard, and gathers
// the counts of keys (document frequencies) and each node's figures of the
// collection statistics over the stats protocol. The Service is the
// netsearch.Transport.

// Searcher runs a search request on the node's own index; the node supplies
// it (netsearch.Answer over its index).
type Searcher func(ctx context.Context, req *netsearch.Request) (*netsearch.Response, error)

// statsRequest asks for the counts of keys and, optionally, the node's
// figures of the collection statistics.
type statsRequest struct {
	Keys    []string `json:"keys,omitempty" cbor:"1,keyasint,omitempty"`
	Summary bool     `json:"summary,omitempty" cbor:"2,keyasint,omitempty"`
	// Profiles asks for the profiles kept of these authors.
	Profiles []string `json:"profiles,omitempty" cbor:"3,keyasint,omitempty"`
}

type statsResponse struct {
	Counts  []int              `json:"counts" cbor:"1,keyasint,omitempty"`
	Summary *netsearch.Summary `json:"summary,omitempty" cbor:"2,keyasint,omitempty"`
	// Profiles are the profiles kept of the authors asked, in no order.
	Profiles []json.RawMessage `json:"profiles,omitempty" cbor:"3,keyasint,omitempty"`
	// Lent: as netsearch.Response's.
	Lent bool `json:"lent,omitempty" cbor:"4,keyasint,omitempty"`
	// Splits are the split records of the keys asked, beside Counts: nil
	// for a key that is not split; none at all when no key is.
	Splits []*keyspace.Split `json:"splits,omitempty" cbor:"5,keyasint,omitempty"`
}

func (r *statsResponse) MarkLent()     { r.Lent = true }
func (r *statsResponse) WasLent() bool { return r.Lent }

// MaxConcurrentSearches bounds the inbound searches served at once.
const MaxConcurrentSearches = 8

func (s *Service) handleSearch(st network.Stream) {
	s.serveStream(st, s.searchIn, func() (any, handler) {
		var req netsearch.Request
		return &req, func(ctx context.Context, from peer.ID) (any, error) {
			// A term that expands (prefix, wildcard, fuzzy) costs up to
			// index.MaxExpansion posting lists: it spends more of the
			// peer's search rate than a plain one.
			if extra := expandingExtra(req.Query); extra > 0 && !s.searchIn.rate.AllowN(from, extra) {
				return nil, refuse(metrics.RefusedRateLimited, "%s is over its rate of searches with prefix, wildcard or fuzzy terms", from)
			}
			return s.answerSearch(ctx, &req)
		}
	})
}

// expandingCost is what a prefix, wildcard or fuzzy term costs of a peer's
// search rate, in plain searches: with PeerSearchRate 200, a peer may ask
// ten such terms a second.
const expandingCost = 20

// expandingExtra is what query's expanding terms cost of a peer's search
// rate beyond the request itself (charged by handleSearch, and by the
// sender's pacer).
func expandingExtra(query string) int { return expandingCost * expandingTerms(query) }

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

func (s *Service) answerSearch(ctx context.Context, req *netsearch.Request) (*netsearch.Response, error) {
	if s.cfg.Searcher == nil {
		return nil, errors.New("this node does not serve searches")
	}
	ctx, cancel := context.WithTimeout(ctx, netsearch.OwnerTimeout)
	defer cancel()
	resp, err := s.cfg.Searcher(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.Refused != "" {
		return resp, nil
	}
	resp.SetCounts(req, s.hold.Count)
	return resp, nil
}

func (s *Service) handleStats(st network.Stream) {
	s.serveStream(st, s.statsIn, func() (any, handler) {
		var req statsRequest
		return &req, func(ctx context.Context, from peer.ID) (any, error) {
			return s.answerStats(&req), nil
		}
	})
}

func (s *Service) answerStats(req *statsRequest) *statsResponse {
	resp := &statsResponse{Counts: make([]int, len(req.Keys))}
	for i, k := range req.Keys {
		resp.Counts[i] = s.hold.Count(k)
		sp, ok := s.splits.get(k)
		if !ok && resp.Counts[i] == 0 {
			// An owner that holds nothing under a term's root it is asked
			// of may have come after the term split: its owners before
			// keep the record.
			s.learnSplitIfOwned(k)
		}
		if ok {
			if resp.Splits == nil {
				resp.Splits = make([]*keyspace.Split, len(req.Keys))
			}
			resp.Splits[i] = &sp
			// The root's count is its whole trie's: the term's frequency
			// in the network.
			resp.Counts[i] = sp.Total()
		}
	}
	if req.Summary {
		sum := s.localSummary()
		resp.Summary = &sum
	}
	for _, a := range req.Profiles {
		if p, err := s.store.Profile(a); err == nil {
			if raw, err := json.Marshal(p); err == nil {
				resp.Profiles = append(resp.Profiles, raw)
			}
		}
	}
	return resp
}

// Self is the node's peer ID (netsearch.Transport).
func (s *Service) Self() peer.ID { return s.self }

// Members are the other servers of the routing table.
// In a network larger than the routing table holds, they are also the
// servers the last survey found (survey): one owner of every group, so
// that the network's totals are exact.
func (s *Service) Members() []peer.ID {
	peers := s.dht.RoutingTable().ListPeers()
	surveyed := s.survey.members()
	if len(surveyed) == 0 {
		return peers
	}
	in := make(map[peer.ID]bool, len(peers))
	for _, p := range peers {
		in[p] = true
	}
	for _, p := range surveyed {
		if !in[p] && p != s.self {
			peers = append(peers, p)
		}
	}
	return peers
}

// Known reports whether p is in the routing table, was seen as an owner or
// found by the last survey.
func (s *Service) Known(p peer.ID) bool {
	return p == s.self || s.dht.RoutingTable().Find(p) != "" || s.owners.knows(p) || s.survey.knows(p)
}

// Latency is how soon p could answer a search now: the measured round
// trip, plus the wait for p's rate when this node's searches have used it
// up (pacer); 0 when neither is known. A busy querier so spreads its
// searches over a key's owners instead of queueing for the nearest. A peer
// never measured is pinged in the background (prober), so that it is not
// asked last for good.
func (s *Service) Latency(p peer.ID) time.Duration {
	rtt := s.host.Peerstore().LatencyEWMA(p)
	if rtt == 0 && p != s.self {
		s.probe.measure(p)
	}
	return rtt + s.pace.backlog(metrics.ProtocolSearch, p)
}

// Search asks p to search its shard for req; this node answers itself.
func (s *Service) Search(ctx context.Context, p peer.ID, req *netsearch.Request) (*netsearch.Response, error) {
	if p == s.self {
		return s.answerSearch(ctx, req)
	}
	var resp netsearch.Response
	rtt, err := s.timedCall(ctx, p, SearchProtocols(s.cfg.Network), metrics.ProtocolSearch, req, &resp)
	if err != nil {
		return nil, err
	}
	// The round trip of a search, without the wait for p's rate, is what
	// Latency estimates.
	s.host.Peerstore().RecordLatency(p, rtt)
	return &resp, nil
}

// Counts asks p how many posts it holds under each key, and how each
// split key is split.
func (s *Service) Counts(ctx context.Context, p peer.ID, keys []string) ([]netsearch.KeyCount, error) {
	var resp *statsResponse
	if p == s.self {
		resp = s.answerStats(&statsRequest{Keys: keys})
	} else {
		resp = &statsResponse{}
		if err := s.statsCall(ctx, p, &statsRequest{Keys: keys}, resp); err != nil {
			return nil, err
		}
	}
	if len(resp.Counts) != len(keys) {
		return nil, fmt.Errorf("stats answer from %s has %d counts for %d keys", p, len(resp.Counts), len(keys))
	}
	if len(resp.Splits) != 0 && len(resp.Splits) != len(keys) {
		return nil, fmt.Errorf("stats answer from %s has %d split records for %d keys", p, len(resp.Splits), len(keys))
	}
	out := make([]netsearch.KeyCount, len(keys))
	for i, n := range resp.Counts {
		out[i].Count = n
		if len(resp.Splits) > 0 {
			out[i].Split = resp.Splits[i]
		}
	}
	return out, nil
}

// Summary asks p for its figures of the collection statistics.
func (s *Service) Summary(ctx context.Context, p peer.ID) (*netsearch.Summary, error) {
	if p == s.self {
		sum := s.localSummary()
		return &sum, nil
	}
	if err := s.findAddrs(ctx, p); err != nil {
		s.survey.drop(p)
		return nil, err
	}
	var resp statsResponse
	if err := s.statsCall(ctx, p, &statsRequest{Summary: true}, &resp); err != nil {
		if ctx.Err() == nil && s.dht.RoutingTable().Find(p) == "" {
			s.survey.drop(p) // gone, or never there: the next survey tells
		}
		return nil, err
	}
	if resp.Summary == nil {
		return nil, fmt.Errorf("stats answer from %s has no summary", p)
	}
	return resp.Summary, nil
}

// findAddrs looks p's addresses up in the DHT when this node is neither
// connected to p nor holds an address of it: a peer a survey found,
// outside the routing table, whose addresses have lapsed (one lookup, and
// the addresses kept for peerstore.TempAddrTTL).
func (s *Service) findAddrs(ctx context.Context, p peer.ID) error {
	if s.host.Network().Connectedness(p) == network.Connected || len(s.host.Peerstore().Addrs(p)) > 0 {
		return nil
	}
	ai, err := s.dht.FindPeer(ctx, p)
	if err != nil {
		return fmt.Errorf("finding %s: %w", p, err)
	}
	s.host.Peerstore().AddAddrs(p, ai.Addrs, peerstore.TempAddrTTL)
	return nil
}

// statsCall runs one stats exchange and counts an answer refused as
// implausible at decode.
func (s *Service) statsCall(ctx context.Context, p peer.ID, req *statsRequest, resp *statsResponse) error {
	err := s.call(ctx, p, StatsProtocols(s.cfg.Network), metrics.ProtocolStats, req, resp)
	if errors.Is(err, netsearch.ErrImplausible) {
		s.countRefused(metrics.ProtocolStats, metrics.RefusedImplausible)
	}
	return err
}

// CountRefused counts n things of protocol that were refused for reason
// (murmur_refused_total), for the querier's checks of what peers send.
func (s *Service) CountRefused(protocol, reason string, n int) { s.countRefusedN(protocol, reason, n) }

var (
	_ netsearch.Transport   = (*Service)(nil)
	_ netsearch.KnownOwners = (*Service)(nil)
)
