package query

import (
	"math"

	"github.com/murmur-p2p/murmur/index"
)

// Leaf is a clause the network's index is partitioned by: the posts whose
// Field holds Value live together at the owners of one key (or of the
// shards of a split key). The text's terms, authors and author labels are
// leaves; languages and dates are not.
type Leaf struct {
	Field, Value string
}

// Plan chooses where a query can be answered exactly: leaves such that
// every post that matches n holds at least one of them. For an AND any one
// routable child will do, and Plan takes the cheapest; an OR needs the
// union of its branches; a phrase, any one of its positions. cost gives the
// price of asking a leaf's owners, typically its document frequency
// (rarest first); lower is cheaper.
//
// ok is false when no such set exists, for a query whose only clauses are
// prefixes, wildcards, fuzzy terms, negations, languages or dates: such a
// query can only be answered best-effort, by asking peers at large.
func Plan(n Expr, cost func(Leaf) float64) (leaves []Leaf, ok bool) {
	r := plan(n, cost, 0)
	if r == nil {
		return nil, false
	}
	return dedupLeaves(r.leaves), true
}

type route struct {
	leaves []Leaf
	cost   float64
}

func plan(n Expr, cost func(Leaf) float64, depth int) *route {
	if depth > maxCompileDepth {
		return nil
	}
	leaf := func(l Leaf) *route { return &route{leaves: []Leaf{l}, cost: cost(l)} }
	switch n := n.(type) {
	case *Term:
		switch n.Field {
		case index.FieldText, index.FieldAuthor, index.FieldLabel:
			return leaf(Leaf{Field: n.Field, Value: n.Term})
		}
		return nil
	case *Fuzzy:
		if n.Distance == 0 {
			return leaf(Leaf{Field: index.FieldText, Value: n.Term})
		}
		return nil
	case *Phrase:
		var best *route
		for _, slot := range n.Slots {
			r := &route{}
			for _, t := range slot {
				r.leaves = append(r.leaves, Leaf{Field: index.FieldText, Value: t})
				r.cost += cost(Leaf{Field: index.FieldText, Value: t})
			}
			if len(r.leaves) > 0 && (best == nil || r.cost < best.cost) {
				best = r
			}
		}
		return best
	case *And:
		var best *route
		for _, c := range n.Children {
			if r := plan(c, cost, depth+1); r != nil && (best == nil || r.cost < best.cost) {
				best = r
			}
		}
		return best
	case *Or:
		out := &route{}
		for _, c := range n.Children {
			r := plan(c, cost, depth+1)
			if r == nil {
				return nil
			}
			out.leaves = append(out.leaves, r.leaves...)
			out.cost += r.cost
		}
		if len(out.leaves) == 0 {
			return nil
		}
		if math.IsInf(out.cost, 1) {
			out.cost = math.MaxFloat64
		}
		return out
	}
	return nil
}

func dedupLeaves(ls []Leaf) []Leaf {
	seen := make(map[Leaf]bool, len(ls))
	out := ls[:0]
	for _, l := range ls {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}
