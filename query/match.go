package query

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/post"
)

// Matches reports whether post p matches the query n, as the index would
// find it: text clauses against the terms the protocol analyzer derives
// from its text (with their positions, for phrases), field clauses against
// its fields.
func Matches(n Expr, p *post.Post) bool {
	return Analyze(p).Matches(n)
}

// Analyzed is a post analyzed once, to be matched against many queries.
type Analyzed struct{ d *matchDoc }

// AnalyzedCacheSize is how many posts' analyzed texts a process keeps: a
// querier analyzes each remote hit to check it against its key and the
// query, and the same hits come back page after page.
const AnalyzedCacheSize = 4096

// analyzedText is a text's terms, and its terms by position; never
// changed once made, so many matchDocs share it.
type analyzedText struct {
	text  string
	terms []string
	at    map[int][]string
}

var analyzedTexts, _ = lru.New[string, *analyzedText](AnalyzedCacheSize)

// Analyze runs the protocol analyzer over p's text, or takes its result
// for a post of the same ID and the very same text from a bounded memory.
func Analyze(p *post.Post) Analyzed {
	if a, ok := analyzedTexts.Get(p.ID); ok && a.text == p.Text {
		return Analyzed{d: &matchDoc{p: p, terms: a.terms, at: a.at}}
	}
	a := &analyzedText{text: p.Text, at: map[int][]string{}}
	for _, t := range index.Tokens(p.Text) {
		a.terms = append(a.terms, t.Term)
		a.at[t.Position] = append(a.at[t.Position], t.Term)
	}
	if p.ID != "" {
		analyzedTexts.Add(p.ID, a)
	}
	return Analyzed{d: &matchDoc{p: p, terms: a.terms, at: a.at}}
}

// Matches reports whether the post matches n, as the package's Matches.
func (a Analyzed) Matches(n Expr) bool { return a.d.match(n, 0) }

// HasTerm reports whether the post's text holds the term t.
func (a Analyzed) HasTerm(t string) bool { return slices.Contains(a.d.terms, t) }

type matchDoc struct {
	p     *post.Post
	terms []string         // shared: read, never written
	at    map[int][]string // position -> terms there; shared likewise
}

func (d *matchDoc) anyTerm(f func(string) bool) bool {
	for _, t := range d.terms {
		if f(t) {
			return true
		}
	}
	return false
}

func (d *matchDoc) match(n Expr, depth int) bool {
	if depth > maxCompileDepth {
		return false
	}
	switch n := n.(type) {
	case *And:
		for _, c := range n.Children {
			if !d.match(c, depth+1) {
				return false
			}
		}
		return len(n.Children) > 0
	case *Or:
		for _, c := range n.Children {
			if d.match(c, depth+1) {
				return true
			}
		}
		return false
	case *Not:
		return !d.match(n.Child, depth+1)
	case *Term:
		switch n.Field {
		case index.FieldText:
			return d.anyTerm(func(t string) bool { return t == n.Term })
		case index.FieldAuthor:
			return d.p.Author == n.Term
		case index.FieldLabel:
			return strings.ToLower(d.p.Label) == n.Term
		case index.FieldLang:
			return d.p.Lang == n.Term
		case index.FieldReplyTo:
			return d.p.ReplyTo == n.Term
		}
		return false
	case *Phrase:
		return d.phrase(n.Slots)
	case *Prefix:
		return d.anyTerm(func(t string) bool { return strings.HasPrefix(t, n.Prefix) })
	case *Wildcard:
		re, err := wildcardRegexp(n.Pattern)
		if err != nil {
			return false
		}
		return d.anyTerm(re.MatchString)
	case *Fuzzy:
		return d.anyTerm(func(t string) bool { return editDistance(t, n.Term, n.Distance) <= n.Distance })
	case *DateRange:
		c := d.p.CreatedAt
		if !n.Since.IsZero() && c.Before(n.Since) {
			return false
		}
		if !n.Until.IsZero() && !c.Before(n.Until) {
			return false
		}
		return true
	}
	return false
}

// phrase reports whether consecutive positions hold one accepted term of
// each slot.
func (d *matchDoc) phrase(slots [][]string) bool {
	if len(slots) == 0 {
		return false
	}
	accepts := func(pos int, slot []string) bool {
		for _, t := range d.at[pos] {
			for _, s := range slot {
				if t == s {
					return true
				}
			}
		}
		return false
	}
	for start := range d.at {
		ok := true
		for i, slot := range slots {
			if !accepts(start+i, slot) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// wildcardRegexp turns a pattern of '*' and '?' into an anchored regexp, as
// bleve's wildcard query does.
func wildcardRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// editDistance is the Levenshtein distance between a and b in runes, or
// max+1 as soon as it must exceed max.
func editDistance(a, b string, max int) int {
	if d := utf8.RuneCountInString(a) - utf8.RuneCountInString(b); d > max || -d > max {
		return max + 1
	}
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > max {
			return max + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
