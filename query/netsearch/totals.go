package netsearch

import (
	"context"
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

// Bounds and timing of the totals.
const (
	// SummaryTTL is how long the network's statistics are reused.
	SummaryTTL = 30 * time.Second
	// MaxSummaryAge bounds how old the network's statistics may be when a
	// search uses them: older figures, those of a node that has not searched
	// for a while, are gathered again while the search waits.
	MaxSummaryAge = 4 * SummaryTTL
	// MaxSummaryPeers bounds the peers asked for their summary at once.
	MaxSummaryPeers = 64
	// MaxHeardSummaries bounds the peers' summaries a node keeps between
	// gatherings (about 1 KB each). In a network larger than
	// MaxSummaryPeers+1 each gathering asks the peers heard from longest
	// ago, so that after ceil(peers/MaxSummaryPeers) gatherings every
	// summary is at hand and the totals are exact: up to this many peers.
	MaxHeardSummaries = 2048
	// MaxHeardSummaryAge is how long a kept summary counts: 32 gatherings
	// at SummaryTTL, which cover MaxHeardSummaries peers.
	MaxHeardSummaryAge = 32 * SummaryTTL
	// unconfirmedClamp bounds what a group no other member confirmed
	// counts, as a multiple of the median confirmed group.
	unconfirmedClamp = 4
)

// NetworkTotals are the network's collection statistics.
type NetworkTotals struct {
	// Posts and Terms are the posts and distinct text terms in the network.
	Posts, Terms uint64
	// Asked and Answered count the nodes asked this time and those that
	// answered, the node itself included.
	Asked, Answered int
	// Heard counts the nodes whose figures the totals combine: those that
	// answered, and in a network too large to ask at once, those heard
	// from at earlier gatherings.
	Heard int
	// Outvoted and Implausible count the nodes whose figures the other
	// owners of the same keys contradicted, or that no honest node sends.
	Outvoted, Implausible int
	// Kept marks the last complete figures, kept because the latest
	// gathering missed peers.
	Kept bool
}

type totalsCache struct {
	mu sync.Mutex
	// heard keeps the summaries of a network too large to ask at once,
	// with when each came.
	heard      map[peer.ID]heardSummary
	totals     NetworkTotals
	valid      bool
	refreshing bool
	expires    time.Time
	gathered   time.Time
	complete   bool // every peer asked answered
}

// Totals returns the network's collection statistics, combined from every
// node's Summary; asked reports whether the caller waited for the network.
// The first call waits, and so does one whose figures are older than
// MaxSummaryAge; others get the figures gathered last, and once they are
// older than SummaryTTL a refresh starts in the background.
func (co *Coordinator) Totals(ctx context.Context) (t NetworkTotals, asked bool) {
	c := &co.totals
	c.mu.Lock()
	if c.valid && co.cfg.Now().Sub(c.gathered) <= MaxSummaryAge {
		t = c.totals
		if co.cfg.Now().After(c.expires) && !c.refreshing && co.ctx.Err() == nil {
			c.refreshing = true
			co.wg.Add(1)
			go func() {
				defer co.wg.Done()
				co.gatherTotals(co.ctx)
			}()
		}
		c.mu.Unlock()
		return t, false
	}
	c.mu.Unlock()
	return co.gatherTotals(ctx), true
}

// Refresh gathers the network's totals now, as Totals does when its figures
// are too old, and returns them.
func (co *Coordinator) Refresh(ctx context.Context) NetworkTotals { return co.gatherTotals(ctx) }

type heardSummary struct {
	sum Summary
	at  time.Time
}

// summaryReport is one node's summary as the querier received it.
type summaryReport struct {
	from peer.ID
	sum  Summary
}

// gatherTotals asks every peer for its Summary and combines them. A peer
// that refuses at once is asked once more. Figures that miss peers are
// gathered again at the next search, and until then the last complete
// figures younger than MaxSummaryAge are kept.
//
// In a larger network it asks the MaxSummaryPeers peers heard from longest
// ago (never first) and combines every summary heard within
// MaxHeardSummaryAge: exact totals once every peer has been heard, an
// estimate from those heard until then.
func (co *Coordinator) gatherTotals(ctx context.Context) NetworkTotals {
	c := &co.totals
	self := co.tr.Self()
	members := co.tr.Members()
	network := len(members) + 1
	peers := members
	rotating := len(members) > MaxSummaryPeers
	if rotating {
		peers = co.stalestSummaries(members)
	}
	var reports []summaryReport
	if local, err := co.tr.Summary(ctx, self); err == nil {
		reports = append(reports, summaryReport{from: self, sum: *local})
	}
	var mu sync.Mutex
	// ask returns the peers that refused at once (a full handler queue, a
	// rate limit, a reset): worth asking again now. One that timed out is
	// left to the next refresh, so a dead peer costs a search one timeout.
	ask := func(ps []peer.ID) (refused []peer.ID) {
		var g errgroup.Group
		g.SetLimit(16)
		for _, p := range ps {
			g.Go(func() error {
				cctx, cancel := context.WithTimeout(ctx, OwnerTimeout)
				defer cancel()
				start := time.Now()
				sum, err := co.tr.Summary(cctx, p)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if time.Since(start) < HedgeDelay {
						refused = append(refused, p)
					}
					return nil
				}
				reports = append(reports, summaryReport{from: p, sum: *sum})
				return nil
			})
		}
		_ = g.Wait() // a peer that refused is in refused
		return refused
	}
	if refused := ask(peers); len(refused) > 0 && ctx.Err() == nil {
		co.log.Debug("peers refused to send their summary; asking again", "peers", len(refused))
		ask(refused)
	}
	asked := len(peers) + 1
	answeredNow := len(reports)
	var fresh map[peer.ID]bool // nil: every report is of this gathering
	if rotating {
		fresh = make(map[peer.ID]bool, len(reports))
		for _, r := range reports {
			fresh[r.from] = true
		}
		reports = co.hear(reports, members)
	}
	answered := make(map[peer.ID]bool, len(reports))
	for _, r := range reports {
		answered[r.from] = true
	}
	// Each node's figures came with the chance that it was sampled:
	// groups are weighted by the chance that any of their members was (1
	// when every node was asked). A peer asked that did not answer is no
	// sample: its groups are seen through their other members, and
	// weighting them up as if it were would count them more than once
	// (606 posts read as 607 with one of 8 silent). Groups whose members
	// were all silent are missing, which the incomplete figures' short
	// life below makes up for.
	share := float64(asked) / float64(network)
	if rotating {
		// Sampled: every node heard, and those asked now that were silent.
		sampled := len(reports)
		for _, p := range peers {
			if !answered[p] {
				sampled++
			}
		}
		share = float64(sampled) / float64(network)
	}
	known := func(p peer.ID) bool { return p == self || co.tr.Known(p) }
	t := combineSummaries(reports, co.tr.Replicas(), known, answered, share, fresh)
	t.Asked, t.Answered = asked, answeredNow
	t.Heard = len(reports)
	co.countRefused(metrics.ProtocolStats, metrics.RefusedOutvoted, t.Outvoted)
	co.countRefused(metrics.ProtocolStats, metrics.RefusedImplausible, t.Implausible)
	if t.Outvoted+t.Implausible > 0 {
		co.log.Info("peers sent statistics their keys' other owners contradict; left out", "outvoted", t.Outvoted, "implausible", t.Implausible)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshing = false
	now := co.cfg.Now()
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

// stalestSummaries are the MaxSummaryPeers members whose summary was heard
// longest ago, those never heard first, in random order among equals.
func (co *Coordinator) stalestSummaries(members []peer.ID) []peer.ID {
	c := &co.totals
	c.mu.Lock()
	at := make(map[peer.ID]time.Time, len(members))
	for _, p := range members {
		at[p] = c.heard[p].at
	}
	c.mu.Unlock()
	peers := slices.Clone(members)
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	slices.SortStableFunc(peers, func(a, b peer.ID) int { return at[a].Compare(at[b]) })
	return peers[:MaxSummaryPeers]
}

// hear keeps the summaries that came (reports, the node's own first) and
// returns them with every other member's summary heard within
// MaxHeardSummaryAge. Summaries of peers no longer members, or too old,
// are forgotten; at most MaxHeardSummaries are kept, the newest.
func (co *Coordinator) hear(reports []summaryReport, members []peer.ID) []summaryReport {
	c := &co.totals
	now := co.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.heard == nil {
		c.heard = map[peer.ID]heardSummary{}
	}
	self := co.tr.Self()
	fresh := map[peer.ID]bool{}
	for _, r := range reports {
		fresh[r.from] = true
		if r.from != self {
			c.heard[r.from] = heardSummary{sum: r.sum, at: now}
		}
	}
	member := make(map[peer.ID]bool, len(members))
	for _, p := range members {
		member[p] = true
	}
	for p, h := range c.heard {
		if !member[p] || now.Sub(h.at) > MaxHeardSummaryAge {
			delete(c.heard, p)
		}
	}
	if len(c.heard) > MaxHeardSummaries {
		ps := slices.Collect(maps.Keys(c.heard))
		slices.SortFunc(ps, func(a, b peer.ID) int { return c.heard[b].at.Compare(c.heard[a].at) })
		for _, p := range ps[MaxHeardSummaries:] {
			delete(c.heard, p)
		}
	}
	for p, h := range c.heard {
		if !fresh[p] {
			reports = append(reports, summaryReport{from: p, sum: h.sum})
		}
	}
	return reports
}

// combineSummaries counts each owner group once, at the low median of
// what its members report: r is the replication factor, known tells the
// peers of the network, answered those whose summary came, and share the
// part of the network whose summary came (each node with that chance), by
// which the groups no member reported are estimated (Horvitz-Thompson:
// each group seen is weighted by one over the chance it was seen). Peers
// whose figures are left out are counted only if their report is fresh (nil
// fresh: all are), so a summary kept between gatherings is counted once.
func combineSummaries(reports []summaryReport, r int, known func(peer.ID) bool, answered map[peer.ID]bool, share float64, fresh map[peer.ID]bool) NetworkTotals {
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
		// The split terms it names are not counted: a split term that no
		// other member confirms is one node's word alone.
	}
	if fresh != nil {
		maps.DeleteFunc(outvoted, func(p peer.ID, _ bool) bool { return !fresh[p] })
		maps.DeleteFunc(implausible, func(p peer.ID, _ bool) bool { return !fresh[p] })
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
		if len(g.Owners) == 0 || len(g.Owners) > r || g.Posts > MaxGroupFigure || g.Terms > MaxGroupFigure {
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
		if len(g.Hot) > MaxGroupSplitTerms {
			return nil, nil, false
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
func (co *Coordinator) InvalidateTotals() {
	co.totals.mu.Lock()
	co.totals.valid = false
	co.totals.expires = time.Time{}
	co.totals.mu.Unlock()
}
