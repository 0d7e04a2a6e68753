package sim

import (
	"math/rand/v2"
	"slices"
	"unicode"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/keyspace"
)

// Kinds are the kinds of query in a mix, in report order (the network
// search benchmark's mix, bench.BenchmarkNetworkSearch):
//
//	rare     one term found in 1 to 3 texts
//	common   one term found in 20 or more texts, not a stop word
//	hot      one stop word found in 30 or more texts: one key until its
//	         owners hold SplitAt of its posts (16 shards up to protocol 3)
//	and      a common term AND a mid term (4 to 19 texts), from one text
//	and-hot  a stop word AND a mid term, from one text
//	phrase   two adjacent words of one text, at most one a stop word
//	or       a mid term OR another mid term
var Kinds = []string{"rare", "common", "hot", "and", "and-hot", "phrase", "or"}

// Query is one query of a mix.
type Query struct {
	Kind string `json:"kind"`
	Q    string `json:"q"`
}

// Mix draws up to perKind queries of each kind from the texts, with the
// protocol analyzer, in a fixed pseudo-random order, kinds in Kinds'
// order. No term is used by two queries, so a node that ran one query has
// cached nothing another needs. A kind the texts cannot fill has fewer.
func Mix(texts []string, perKind int) []Query {
	df := map[string]int{}
	for _, t := range texts {
		for _, term := range index.Terms(t) {
			df[term]++
		}
	}
	class := func(t string) string {
		if len([]rune(t)) < 2 {
			return ""
		}
		for _, r := range t {
			if !unicode.IsLetter(r) {
				return ""
			}
		}
		switch c := df[t]; {
		case keyspace.IsHot(t):
			if c >= 30 {
				return "hot"
			}
			return ""
		case c <= 3:
			return "rare"
		case c < 20:
			return "mid"
		default:
			return "common"
		}
	}
	used := map[string]bool{}
	// find returns the first unused term of class c in toks, other than
	// not.
	find := func(toks []index.Token, c, not string) string {
		for _, tk := range toks {
			if tk.Term != not && !used[tk.Term] && class(tk.Term) == c {
				return tk.Term
			}
		}
		return ""
	}
	var orFirst string
	gens := map[string]func(toks []index.Token) (string, []string){
		"rare":   func(toks []index.Token) (string, []string) { t := find(toks, "rare", ""); return t, []string{t} },
		"common": func(toks []index.Token) (string, []string) { t := find(toks, "common", ""); return t, []string{t} },
		"hot":    func(toks []index.Token) (string, []string) { t := find(toks, "hot", ""); return t, []string{t} },
		"and": func(toks []index.Token) (string, []string) {
			c, m := find(toks, "common", ""), find(toks, "mid", "")
			return c + " " + m, []string{c, m}
		},
		"and-hot": func(toks []index.Token) (string, []string) {
			h, m := find(toks, "hot", ""), find(toks, "mid", "")
			return h + " " + m, []string{h, m}
		},
		"phrase": func(toks []index.Token) (string, []string) {
			for i := 1; i < len(toks); i++ {
				a, c := toks[i-1], toks[i]
				ca, cc := class(a.Term), class(c.Term)
				if c.Position == a.Position+1 && a.Term != c.Term && ca != "" && cc != "" &&
					!(ca == "hot" && cc == "hot") && !used[a.Term] && !used[c.Term] {
					return `"` + a.Term + " " + c.Term + `"`, []string{a.Term, c.Term}
				}
			}
			return "", nil
		},
		"or": func(toks []index.Token) (string, []string) {
			m := find(toks, "mid", orFirst)
			if m == "" {
				return "", nil
			}
			if orFirst == "" {
				orFirst = m
				return "", nil
			}
			first := orFirst
			orFirst = ""
			return first + " OR " + m, []string{first, m}
		},
	}
	order := rand.New(rand.NewPCG(1, 2)).Perm(len(texts))
	var out []Query
	for _, kind := range Kinds {
		n := 0
		for _, i := range order {
			if n == perKind {
				break
			}
			q, terms := gens[kind](index.Tokens(texts[i]))
			if q == "" || slices.Contains(terms, "") {
				continue
			}
			for _, t := range terms {
				used[t] = true
			}
			out = append(out, Query{Kind: kind, Q: q})
			n++
		}
	}
	return out
}
