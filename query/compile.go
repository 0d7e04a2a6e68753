package query

import (
	"errors"
	"fmt"
	"slices"

	bleveQuery "github.com/blevesearch/bleve/v2/search/query"

	"github.com/murmur-p2p/murmur/index"
)

// Compile turns a syntax tree from Parse into a bleve query over the index
// schema. A tree that can only exclude (a bare negation) matches every
// document but the excluded ones.
//
// Only terms of the text score. Clauses on other fields (lang:, from:,
// since:, until:) that must hold are filters: they select posts without
// changing their scores, so a shard that holds a subset of the posts ranks
// them exactly as one index holding all of them would, given the network's
// text statistics. A query of filters alone gives every match the score 1.
func Compile(n Expr) (bleveQuery.Query, error) {
	if n == nil {
		return nil, errors.New("compile query: empty tree")
	}
	q, err := compile(n, 0)
	if err != nil {
		return nil, fmt.Errorf("compile query: %w", err)
	}
	if _, isAnd := n.(*And); !isAnd && !scoresText(n) {
		if _, isNot := n.(*Not); !isNot {
			bq := bleveQuery.NewBooleanQuery(nil, nil, nil)
			bq.AddFilter(q)
			return bq, nil
		}
	}
	return q, nil
}

// scoresText reports whether n has a clause on the text field outside a
// negation: only those contribute to a score.
func scoresText(n Expr) bool {
	switch n := n.(type) {
	case *And:
		return slices.ContainsFunc(n.Children, scoresText)
	case *Or:
		return slices.ContainsFunc(n.Children, scoresText)
	case *Term:
		return n.Field == index.FieldText
	case *Phrase, *Prefix, *Wildcard, *Fuzzy:
		return true
	}
	return false
}

// maxCompileDepth bounds recursion over trees not built by Parse.
const maxCompileDepth = 4 * MaxDepth

func compile(n Expr, depth int) (bleveQuery.Query, error) {
	if depth > maxCompileDepth {
		return nil, fmt.Errorf("tree deeper than %d", maxCompileDepth)
	}
	switch n := n.(type) {
	case *Term:
		q := bleveQuery.NewTermQuery(n.Term)
		q.SetField(n.Field)
		return q, nil
	case *Phrase:
		if len(n.Slots) == 0 {
			return nil, errors.New("phrase without terms")
		}
		single := make([]string, len(n.Slots))
		for i, s := range n.Slots {
			if len(s) == 0 {
				return nil, errors.New("phrase with an empty position")
			}
			single[i] = s[0]
			if len(s) > 1 {
				single = nil
				break
			}
		}
		if single != nil {
			return bleveQuery.NewPhraseQuery(single, index.FieldText), nil
		}
		return bleveQuery.NewMultiPhraseQuery(n.Slots, index.FieldText), nil
	case *Prefix:
		q := bleveQuery.NewPrefixQuery(n.Prefix)
		q.SetField(index.FieldText)
		return q, nil
	case *Wildcard:
		q := bleveQuery.NewWildcardQuery(n.Pattern)
		q.SetField(index.FieldText)
		return q, nil
	case *Fuzzy:
		if n.Distance == 0 {
			q := bleveQuery.NewTermQuery(n.Term)
			q.SetField(index.FieldText)
			return q, nil
		}
		q := bleveQuery.NewFuzzyQuery(n.Term)
		q.SetFuzziness(n.Distance)
		q.SetField(index.FieldText)
		return q, nil
	case *DateRange:
		if n.Since.IsZero() && n.Until.IsZero() {
			return nil, errors.New("date range without bounds")
		}
		incl, excl := true, false
		q := bleveQuery.NewDateRangeInclusiveQuery(n.Since, n.Until, &incl, &excl)
		q.SetField(index.FieldCreatedAt)
		return q, nil
	case *Not:
		child, err := compile(n.Child, depth+1)
		if err != nil {
			return nil, err
		}
		return bleveQuery.NewBooleanQuery([]bleveQuery.Query{bleveQuery.NewMatchAllQuery()}, nil, []bleveQuery.Query{child}), nil
	case *Or:
		if len(n.Children) == 0 {
			return nil, errors.New("OR without children")
		}
		qs := make([]bleveQuery.Query, len(n.Children))
		for i, c := range n.Children {
			q, err := compile(c, depth+1)
			if err != nil {
				return nil, err
			}
			qs[i] = q
		}
		if len(qs) == 1 {
			return qs[0], nil
		}
		return bleveQuery.NewDisjunctionQuery(qs), nil
	case *And:
		if len(n.Children) == 0 {
			return nil, errors.New("AND without children")
		}
		var must, mustNot, filters []bleveQuery.Query
		for _, c := range n.Children {
			if not, ok := c.(*Not); ok {
				q, err := compile(not.Child, depth+1)
				if err != nil {
					return nil, err
				}
				mustNot = append(mustNot, q)
				continue
			}
			q, err := compile(c, depth+1)
			if err != nil {
				return nil, err
			}
			if scoresText(c) {
				must = append(must, q)
			} else {
				filters = append(filters, q)
			}
		}
		if len(mustNot) == 0 && len(filters) == 0 && len(must) == 1 {
			return must[0], nil
		}
		bq := bleveQuery.NewBooleanQuery(must, nil, mustNot)
		switch len(filters) {
		case 0:
		case 1:
			bq.AddFilter(filters[0])
		default:
			bq.AddFilter(bleveQuery.NewConjunctionQuery(filters))
		}
		return bq, nil
	case nil:
		return nil, errors.New("nil node")
	default:
		return nil, fmt.Errorf("unknown node %T", n)
	}
}
