package p2p

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// A node's figures of the network's collection statistics, per owner group
// of the keys it holds, for queriers to combine (netsearch.Coordinator's
// Totals): the members of a group hold the same keys, so they report the
// same figures, and a querier counts each group once.

// summaryCache keeps the node's last summary.
type summaryCache struct {
	mu      sync.Mutex
	local   netsearch.Summary
	localAt time.Time
	// localOf is the holdings version and membership epoch local was
	// computed for: a summary is reused only while both hold.
	localOf [2]uint64
}

// minLocalSummaryAge is how often at most the local summary is computed
// again while the holdings change: it walks every held key.
const minLocalSummaryAge = 200 * time.Millisecond

// localSummary computes this node's Summary, reused while neither what the
// node holds nor its view of the membership changed: the members of a
// group must report the same figures, so none may report old ones. It
// walks every held key, so it costs a few tens of milliseconds on a node
// with a hundred thousand keys, at most every minLocalSummaryAge.
func (s *Service) localSummary() netsearch.Summary {
	c := &s.summary
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
	groups := map[string]*netsearch.GroupFigures{}
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
			g = &netsearch.GroupFigures{Owners: names}
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
	var sum netsearch.Summary
	for key, g := range groups {
		g.Hot = slices.Sorted(maps.Keys(hot[key]))
		if g.Posts == 0 && g.Terms == 0 && len(g.Hot) == 0 {
			continue
		}
		sum.Groups = append(sum.Groups, *g)
	}
	sort.Slice(sum.Groups, func(i, j int) bool {
		return strings.Join(sum.Groups[i].Owners, ",") < strings.Join(sum.Groups[j].Owners, ",")
	})
	if len(sum.Groups) > netsearch.MaxSummaryGroups {
		sum.Groups = sum.Groups[:netsearch.MaxSummaryGroups]
	}
	c.mu.Lock()
	c.local, c.localAt, c.localOf = sum, time.Now(), of
	c.mu.Unlock()
	return sum
}
