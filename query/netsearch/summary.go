package netsearch

import (
	"iter"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/keyspace"
)

// SummaryOf is a node's Summary of what it holds: held yields each key and
// the posts held under it, owners the key's owners as the node knows them
// without asking the network (false when it does not). Each key the node
// owns counts in its owner group: an author key's posts, an unsplit term
// key as one term, a node of a split term's trie as that term. Keys it holds
// nothing under, cannot parse or place, or does not own are left to the
// groups that know them; groups with nothing to report are left out, and
// at most MaxSummaryGroups are kept, in order of their owners.
func SummaryOf(self peer.ID, held iter.Seq2[string, int], owners func(key string) ([]peer.ID, bool)) Summary {
	// Groups are keyed by their owners' raw IDs, sorted: naming them in
	// base58 once per group, not once per key, keeps this cheap.
	groups := map[string]*GroupFigures{}
	hot := map[string]map[string]bool{} // the split terms each group names
	var raw []string
	for key, count := range held {
		if count <= 0 {
			continue
		}
		k, err := keyspace.Parse(key)
		if err != nil {
			continue
		}
		ids, ok := owners(key)
		if !ok || !slices.Contains(ids, self) {
			continue
		}
		raw = raw[:0]
		for _, o := range ids {
			raw = append(raw, string(o))
		}
		slices.Sort(raw)
		gk := strings.Join(raw, "\x00")
		g := groups[gk]
		if g == nil {
			names := make([]string, len(ids))
			for i, o := range ids {
				names[i] = o.String()
			}
			sort.Strings(names)
			g = &GroupFigures{Owners: names}
			groups[gk] = g
			hot[gk] = map[string]bool{}
		}
		switch {
		case k.Class == keyspace.ClassAuthor:
			g.Posts += uint64(count)
		case k.Class == keyspace.ClassTerm && k.Month == "":
			g.Terms++
		case k.Class == keyspace.ClassTerm && k.Month != "":
			// A node of a split term's trie: the term counts once, named,
			// up to the split terms a group may name; beyond, once a
			// node, rather than refused.
			switch {
			case hot[gk][k.Value]:
			case len(hot[gk]) >= MaxGroupSplitTerms:
				g.Terms++
			default:
				hot[gk][k.Value] = true
			}
		}
	}
	var sum Summary
	for gk, g := range groups {
		g.Hot = slices.Sorted(maps.Keys(hot[gk]))
		if g.Posts == 0 && g.Terms == 0 && len(g.Hot) == 0 {
			continue
		}
		sum.Groups = append(sum.Groups, *g)
	}
	sort.Slice(sum.Groups, func(i, j int) bool {
		return strings.Join(sum.Groups[i].Owners, ",") < strings.Join(sum.Groups[j].Owners, ",")
	})
	if len(sum.Groups) > MaxSummaryGroups {
		sum.Groups = sum.Groups[:MaxSummaryGroups]
	}
	return sum
}
