package p2p

import (
	"context"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
)

// The network's collection statistics (posts and distinct terms, which
// BM25 needs) are gathered from the owners of the keys, not taken on any
// one node's word. Every key has one owner group, the R peers closest to
// it; each node reports, per group it is a member of, the figures of the
// keys it holds there. The members of a group hold the same keys, so they
// report the same figures: the querier counts each group once, at the
// median of its members' reports. A peer that lies about its figures is
// outvoted by the other members of its groups; one that invents a group
// is ignored, unless the members it names did not answer, and then it
// counts at most unconfirmedClamp times a confirmed group.

// Summary is one node's figures for the network's collection statistics,
// per owner group it is a member of.
type Summary struct {
	Groups []GroupFigures `json:"groups"`
}

// GroupFigures are the figures of the keys whose owners, by the sender's
// view, are exactly Owners (sorted peer IDs, the sender among them): the
// posts under author keys, the unsplit term keys that hold posts, and the
// hot terms with a shard there that holds posts.
type GroupFigures struct {
	Owners []string `json:"owners"`
	Posts  uint64   `json:"posts"`
	Terms  uint64   `json:"terms"`
	Hot    []string `json:"hot,omitempty"`
}

// Bounds of the statistics a peer may send; larger ones are refused at
// decode, whole.
const (
	// MaxSummaryGroups bounds the owner groups of one summary: a node is a
	// member of a few dozen in a network of any size.
	MaxSummaryGroups = 1024
	// maxGroupOwners bounds the owners of one group (R is at most this).
	maxGroupOwners = 16
	// maxGroupFigure bounds the posts or terms one group may claim: four
	// billion posts under one group's keys is beyond any node's disk.
	maxGroupFigure = 1 << 32
	// maxKeyCount bounds the count of one key a peer may report.
	maxKeyCount = 1 << 32
	// maxSummaryHot bounds the hot terms of one summary, over its groups.
	maxSummaryHot = 64 * keyspace.MaxHotTerms
	// unconfirmedClamp bounds what a group no other member confirmed
	// counts, as a multiple of the median confirmed group.
	unconfirmedClamp = 4
)

// NetworkTotals are the network's collection statistics.
type NetworkTotals struct {
	// Posts and Terms are the posts and distinct text terms in the network.
	Posts, Terms uint64
	// Asked and Answered count the nodes the figures came from.
	Asked, Answered int
	// Outvoted and Implausible count the nodes whose figures the other
	// owners of the same keys contradicted, or that no honest node sends.
	Outvoted, Implausible int
	// Kept marks the last complete figures, kept because the latest
	// gathering missed peers.
	Kept bool
}

type summaryCache struct {
	mu         sync.Mutex
	totals     NetworkTotals
	valid      bool
	refreshing bool
	expires    time.Time
	gathered   time.Time
	complete   bool // every peer asked answered
	local      Summary
	localAt    time.Time
	// localOf is the holdings version and membership epoch local was
	// computed for: a summary is reused only while both hold.
	localOf [2]uint64
}

// minLocalSummaryAge is how often at most the local summary is computed
// again while the holdings change: it walks every held key.
const minLocalSummaryAge = 200 * time.Millisecond

// Totals returns the network's collection statistics, combined from every
// node's Summary; asked reports whether the caller waited for the network.
// The first call waits, and so does one whose figures are older than
// MaxSummaryAge; others get the figures gathered last, and once they are
// older than SummaryTTL a refresh starts in the background.
func (s *Service) Totals(ctx context.Context) (t NetworkTotals, asked bool) {
	c := &s.summaries
	c.mu.Lock()
	if c.valid && time.Since(c.gathered) <= MaxSummaryAge {
		t = c.totals
		if time.Now().After(c.expires) && !c.refreshing && s.ctx.Err() == nil {
			c.refreshing = true
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.gatherTotals(s.ctx)
			}()
		}
		c.mu.Unlock()
		return t, false
	}
	c.mu.Unlock()
	return s.gatherTotals(ctx), true
}

// summaryReport is one node's summary as the querier received it.
type summaryReport struct {
	from peer.ID
	sum  Summary
}

// gatherTotals asks every peer (a sample of MaxSummaryPeers in a larger
// network) for its Summary and combines them. A peer that refuses at once
// is asked once more. Figures that miss peers are gathered again at the
// next search, and until then the last complete figures younger than
// MaxSummaryAge are kept.
func (s *Service) gatherTotals(ctx context.Context) NetworkTotals {
	c := &s.summaries

	peers := s.dht.RoutingTable().ListPeers()
	network := len(peers) + 1
	if len(peers) > MaxSummaryPeers {
		rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
		peers = peers[:MaxSummaryPeers]
	}
	reports := []summaryReport{{from: s.self, sum: s.localSummary()}}
	var mu sync.Mutex
	// ask returns the peers that refused at once (a full handler queue, a
	// rate limit, a reset): worth asking again now. One that timed out is
	// left to the next refresh, so a dead peer costs a search one timeout.
	ask := func(ps []peer.ID) (refused []peer.ID) {
		var g errgroup.Group
		g.SetLimit(16)
		for _, p := range ps {
			g.Go(func() error {
				cctx, cancel := context.WithTimeout(ctx, SearchTimeout)
				defer cancel()
				var resp statsResponse
				start := time.Now()
				err := s.call(cctx, p, StatsProtocol(s.cfg.Network), metrics.ProtocolStats, &statsRequest{Summary: true}, &resp)
				mu.Lock()
				defer mu.Unlock()
				if errors.Is(err, errImplausible) {
					s.countRefused(metrics.ProtocolStats, metrics.RefusedImplausible)
				}
				if err != nil || resp.Summary == nil {
					if time.Since(start) < HedgeDelay {
						refused = append(refused, p)
					}
					return nil
				}
				reports = append(reports, summaryReport{from: p, sum: *resp.Summary})
				return nil
			})
		}
		_ = g.Wait() // a peer that refused is in refused
		return refused
	}
	if refused := ask(peers); len(refused) > 0 && ctx.Err() == nil {
		s.log.Debug("peers refused to send their summary; asking again", "peers", len(refused))
		ask(refused)
	}
	answered := make(map[peer.ID]bool, len(reports))
	for _, r := range reports {
		answered[r.from] = true
	}
	// Each node's figures came with the chance that it was asked and
	// answered: groups are weighted by the chance that any of their
	// members did (1 when every node answered).
	share := float64(len(reports)) / float64(network)
	known := func(p peer.ID) bool {
		return p == s.self || s.dht.RoutingTable().Find(p) != "" || s.owners.knows(p)
	}
	t := combineSummaries(reports, s.cfg.Replicas, known, answered, share)
	t.Asked = len(peers) + 1
	s.countRefusedN(metrics.ProtocolStats, metrics.RefusedOutvoted, t.Outvoted)
	s.countRefusedN(metrics.ProtocolStats, metrics.RefusedImplausible, t.Implausible)
	if t.Outvoted+t.Implausible > 0 {
		s.log.Info("peers sent statistics their keys' other owners contradict; left out", "outvoted", t.Outvoted, "implausible", t.Implausible)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshing = false
	now := time.Now()
	complete := t.Answered == t.Asked
	if !complete {
		// Figures that miss peers are estimates: gather again at the
		// next search, and until then keep the last complete figures
		// while they are young enough.
		c.expires = now
		if c.valid && c.complete && now.Sub(c.gathered) <= MaxSummaryAge {
			kept := c.totals
			kept.Kept = true
			return kept
		}
	} else {
		c.expires = now.Add(SummaryTTL)
	}
	c.totals, c.valid, c.complete, c.gathered = t, true, complete, now
	return t
}

// combineSummaries counts each owner group once, at the low median of
// what its members report: r is the replication factor, known tells the
// peers of the network, answered those whose summary came, and share the
// part of the network whose summary came (each node with that chance), by
// which the groups no member reported are estimated (Horvitz-Thompson:
// each group seen is weighted by one over the chance it was seen).
func combineSummaries(reports []summaryReport, r int, known func(peer.ID) bool, answered map[peer.ID]bool, share float64) NetworkTotals {
	type entry struct {
		from peer.ID
		g    *GroupFigures
	}
	byGroup := map[string][]entry{}
	members := map[string][]peer.ID{}
	outvoted, implausible := map[peer.ID]bool{}, map[peer.ID]bool{}
	for _, rep := range reports {
		keys, owners, ok := checkSummary(rep.from, rep.sum, r)
		if !ok {
			implausible[rep.from] = true
			continue
		}
		for i := range rep.sum.Groups {
			byGroup[keys[i]] = append(byGroup[keys[i]], entry{from: rep.from, g: &rep.sum.Groups[i]})
			members[keys[i]] = owners[i]
		}
	}
	// seen is the chance that at least one of m members was asked.
	seen := func(m int) float64 {
		if share >= 1 {
			return 1
		}
		return 1 - math.Pow(1-share, float64(m))
	}
	var posts, terms float64
	hot := map[string]bool{}
	var confirmedPosts, confirmedTerms []uint64
	var singles []entry
	for key, es := range byGroup {
		if len(es) < 2 && len(members[key]) > 1 {
			singles = append(singles, es...)
			continue
		}
		ps, ts := make([]uint64, len(es)), make([]uint64, len(es))
		votes := map[string]int{}
		for i, e := range es {
			ps[i], ts[i] = e.g.Posts, e.g.Terms
			for _, h := range e.g.Hot {
				votes[h]++
			}
		}
		p, t := lowMedian(ps), lowMedian(ts)
		w := 1 / seen(len(members[key]))
		posts += float64(p) * w
		terms += float64(t) * w
		confirmedPosts, confirmedTerms = append(confirmedPosts, p), append(confirmedTerms, t)
		for h, n := range votes {
			if 2*n > len(es) {
				hot[h] = true
			}
		}
		for _, e := range es {
			if far(e.g.Posts, p) || far(e.g.Terms, t) {
				outvoted[e.from] = true
			}
		}
	}
	capPosts, capTerms := uint64(math.MaxUint64), uint64(math.MaxUint64)
	if len(confirmedPosts) > 0 {
		capPosts = unconfirmedClamp * max(lowMedian(confirmedPosts), 1)
		capTerms = unconfirmedClamp * max(lowMedian(confirmedTerms), 1)
	}
single:
	for _, e := range singles {
		// A group only one member reports counts only if the others could
		// not have confirmed it: they are peers of the network that did
		// not answer. One that names strangers, or members that answered
		// without it, is not a group they agree on.
		for _, o := range members[groupKeyOf(e.g.Owners)] {
			switch {
			case o == e.from:
			case !known(o):
				implausible[e.from] = true
				continue single
			case answered[o]:
				continue single
			}
		}
		w := 1 / seen(len(e.g.Owners))
		posts += float64(min(e.g.Posts, capPosts)) * w
		terms += float64(min(e.g.Terms, capTerms)) * w
		for _, h := range e.g.Hot {
			hot[h] = true
		}
	}
	t := NetworkTotals{
		Posts:       min(uint64(math.Round(posts)), index.MaxStatsFigure),
		Terms:       min(uint64(math.Round(terms))+uint64(len(hot)), index.MaxStatsFigure),
		Answered:    len(reports),
		Outvoted:    len(outvoted),
		Implausible: len(implausible),
	}
	return t
}

// checkSummary checks that every group of a summary names from among at
// most r distinct owners that are peer IDs, with figures and hot terms
// within the bounds, once each; it returns each group's key and owners.
func checkSummary(from peer.ID, sum Summary, r int) (keys []string, owners [][]peer.ID, ok bool) {
	seen := map[string]bool{}
	for _, g := range sum.Groups {
		if len(g.Owners) == 0 || len(g.Owners) > r || g.Posts > maxGroupFigure || g.Terms > maxGroupFigure {
			return nil, nil, false
		}
		ids := make([]peer.ID, len(g.Owners))
		member := false
		for i, o := range g.Owners {
			id, err := peer.Decode(o)
			if err != nil {
				return nil, nil, false
			}
			ids[i] = id
			member = member || id == from
		}
		key := groupKeyOf(g.Owners)
		if !member || seen[key] || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != len(ids) {
			return nil, nil, false
		}
		for _, h := range g.Hot {
			if !keyspace.IsHot(h) {
				return nil, nil, false
			}
		}
		seen[key] = true
		keys, owners = append(keys, key), append(owners, ids)
	}
	return keys, owners, true
}

// groupKeyOf identifies an owner group whatever the order of its owners.
func groupKeyOf(owners []string) string {
	sorted := slices.Clone(owners)
	sort.Strings(sorted)
	return strings.Join(sorted, ",")
}

// lowMedian is the median of vs, the lower one of an even count: of two
// reports, the smaller, since a peer that over-reports can break every
// search and one that lags only under-counts its own keys for a moment.
func lowMedian(vs []uint64) uint64 {
	s := slices.Sorted(slices.Values(vs))
	return s[(len(s)-1)/2]
}

// far reports whether a member's figure is off the group's by more than an
// honest lag explains.
func far(x, chosen uint64) bool {
	d := max(x, chosen) - min(x, chosen)
	return d > chosen/10+10
}

// InvalidateTotals makes the next Totals call wait for the network again.
func (s *Service) InvalidateTotals() {
	s.summaries.mu.Lock()
	s.summaries.valid = false
	s.summaries.expires = time.Time{}
	s.summaries.localAt = time.Time{}
	s.summaries.mu.Unlock()
}

// localSummary computes this node's Summary, reused while neither what the
// node holds nor its view of the membership changed: the members of a
// group must report the same figures, so none may report old ones. It
// walks every held key, so it costs a few tens of milliseconds on a node
// with a hundred thousand keys, at most every minLocalSummaryAge.
func (s *Service) localSummary() Summary {
	c := &s.summaries
	of := [2]uint64{s.hold.Version(), s.owners.refresh()}
	c.mu.Lock()
	if !c.localAt.IsZero() && (c.localOf == of || time.Since(c.localAt) < minLocalSummaryAge) {
		sum := c.local
		c.mu.Unlock()
		return sum
	}
	c.mu.Unlock()

	// The node places each held key in its owner group as far as it knows
	// the owners without asking the network: a repair pass has looked up
	// every held key a moment ago. A key it cannot place, or does not own,
	// is left to the groups that know it.
	// Groups are keyed by their owners' raw IDs, sorted: naming them in
	// base58 once per group, not once per key, keeps this cheap.
	groups := map[string]*GroupFigures{}
	hot := map[string]map[string]bool{}
	var raw []string
	for _, hk := range s.hold.snapshot() {
		if hk.count <= 0 {
			continue
		}
		k, err := keyspace.Parse(hk.key)
		if err != nil {
			continue
		}
		owners, ok := s.owners.cached(hk.key, false)
		if !ok || !slices.Contains(owners, s.self) {
			continue
		}
		raw = raw[:0]
		for _, o := range owners {
			raw = append(raw, string(o))
		}
		slices.Sort(raw)
		key := strings.Join(raw, "\x00")
		g := groups[key]
		if g == nil {
			names := make([]string, len(owners))
			for i, o := range owners {
				names[i] = o.String()
			}
			sort.Strings(names)
			g = &GroupFigures{Owners: names}
			groups[key] = g
			hot[key] = map[string]bool{}
		}
		switch {
		case k.Class == keyspace.ClassAuthor:
			g.Posts += uint64(hk.count)
		case k.Class == keyspace.ClassTerm && k.Shard == "":
			g.Terms++
		case k.Class == keyspace.ClassTerm:
			hot[key][k.Value] = true
		}
	}
	var sum Summary
	for key, g := range groups {
		g.Hot = slices.Sorted(maps.Keys(hot[key]))
		if g.Posts == 0 && g.Terms == 0 && len(g.Hot) == 0 {
			continue
		}
		sum.Groups = append(sum.Groups, *g)
	}
	sort.Slice(sum.Groups, func(i, j int) bool {
		return groupKeyOf(sum.Groups[i].Owners) < groupKeyOf(sum.Groups[j].Owners)
	})
	if len(sum.Groups) > MaxSummaryGroups {
		sum.Groups = sum.Groups[:MaxSummaryGroups]
	}
	c.mu.Lock()
	c.local, c.localAt, c.localOf = sum, time.Now(), of
	c.mu.Unlock()
	return sum
}
