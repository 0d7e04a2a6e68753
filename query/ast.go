// Package query parses murmur's search language, compiles it to bleve
// queries over the index schema and runs searches with cursor paging.
package query

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/murmur-p2p/murmur/index"
)

// Expr is one node of a parsed query. Its String form is a normalized,
// unambiguous rendering used in tests and to bind cursors to queries.
type Expr interface {
	String() string
	node()
}

// And matches documents that match every child.
type And struct{ Children []Expr }

// Or matches documents that match at least one child.
type Or struct{ Children []Expr }

// Not excludes documents that match Child.
type Not struct{ Child Expr }

// Term matches an exact term in Field.
type Term struct {
	Field string
	Term  string
}

// Phrase matches consecutive positions of FieldText. Each slot lists the
// terms accepted at that position (usually one; a hashtag also offers its
// words at the same position).
type Phrase struct{ Slots [][]string }

// Prefix matches terms of FieldText that start with Prefix.
type Prefix struct{ Prefix string }

// Wildcard matches terms of FieldText against a pattern of '*' (any run of
// characters) and '?' (one character).
type Wildcard struct{ Pattern string }

// Fuzzy matches terms of FieldText within Distance edits of Term.
type Fuzzy struct {
	Term     string
	Distance int
}

// DateRange matches FieldCreatedAt in [Since, Until). A zero bound is open.
type DateRange struct {
	Since time.Time
	Until time.Time
}

func (*And) node()       {}
func (*Or) node()        {}
func (*Not) node()       {}
func (*Term) node()      {}
func (*Phrase) node()    {}
func (*Prefix) node()    {}
func (*Wildcard) node()  {}
func (*Fuzzy) node()     {}
func (*DateRange) node() {}

func joinExprs(op string, ns []Expr) string {
	parts := make([]string, 0, len(ns)+1)
	parts = append(parts, op)
	for _, n := range ns {
		parts = append(parts, n.String())
	}
	return "(" + strings.Join(parts, " ") + ")"
}

// String renders the conjunction as "(AND a b ...)".
func (n *And) String() string { return joinExprs("AND", n.Children) }

// String renders the disjunction as "(OR a b ...)".
func (n *Or) String() string { return joinExprs("OR", n.Children) }

// String renders the negation as "-x".
func (n *Not) String() string { return "-" + n.Child.String() }

// String renders the term as field:term, quoting terms with spaces or quotes.
func (n *Term) String() string { return n.Field + ":" + quoteIfNeeded(n.Term) }

// String renders the phrase as text:"a b", with alternatives of one slot
// joined by '|'.
func (n *Phrase) String() string {
	parts := make([]string, len(n.Slots))
	for i, s := range n.Slots {
		parts[i] = strings.Join(s, "|")
	}
	return index.FieldText + ":" + strconv.Quote(strings.Join(parts, " "))
}

// String renders the prefix as text:prefix*.
func (n *Prefix) String() string { return index.FieldText + ":" + quoteIfNeeded(n.Prefix) + "*" }

// String renders the wildcard as text:pattern.
func (n *Wildcard) String() string { return index.FieldText + ":" + quoteIfNeeded(n.Pattern) }

// String renders the fuzzy term as text:term~distance.
func (n *Fuzzy) String() string {
	return fmt.Sprintf("%s:%s~%d", index.FieldText, quoteIfNeeded(n.Term), n.Distance)
}

// String renders the range as created_at:[since,until) with "*" for an open
// bound.
func (n *DateRange) String() string {
	b := func(t time.Time) string {
		if t.IsZero() {
			return "*"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%s:[%s,%s)", index.FieldCreatedAt, b(n.Since), b(n.Until))
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\r\n\"()") {
		return strconv.Quote(s)
	}
	return s
}

// positiveLeaves calls fn with every clause of n that a matching post must
// or may satisfy: the leaves under And and Or, not under a negation.
func positiveLeaves(n Expr, fn func(Expr)) {
	switch n := n.(type) {
	case nil:
	case *And:
		for _, c := range n.Children {
			positiveLeaves(c, fn)
		}
	case *Or:
		for _, c := range n.Children {
			positiveLeaves(c, fn)
		}
	case *Not:
	default:
		fn(n)
	}
}

// PositiveTerms returns the distinct FieldText terms that a matching post
// must or may contain, in order of first appearance: the terms of every
// Term, Phrase and Fuzzy node outside a negation. Prefix and wildcard
// patterns, and clauses on other fields, contribute nothing.
func PositiveTerms(n Expr) []string {
	var out []string
	seen := map[string]bool{}
	add := func(t string) {
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	positiveLeaves(n, func(n Expr) {
		switch n := n.(type) {
		case *Term:
			if n.Field == index.FieldText {
				add(n.Term)
			}
		case *Phrase:
			for _, s := range n.Slots {
				for _, t := range s {
					add(t)
				}
			}
		case *Fuzzy:
			add(n.Term)
		}
	})
	return out
}
