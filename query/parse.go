package query

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/murmur-p2p/murmur/index"
)

// Bounds on a query, so one search cannot cost unbounded work.
const (
	// MaxQueryBytes is the longest accepted query.
	MaxQueryBytes = 1024
	// MaxClauses is the most leaf clauses (terms, phrases, fields...) a query may hold.
	MaxClauses = 64
	// MaxDepth is the deepest nesting of parentheses.
	MaxDepth = 16
	// MaxFuzziness is the largest edit distance of a fuzzy term.
	MaxFuzziness = 2
	// MaxExpanding is the most prefix, wildcard and fuzzy terms a query may
	// hold: each expands to up to index.MaxExpansion words of the
	// dictionary, and a fuzzy one costs an automaton over all of it.
	MaxExpanding = 4
	// minPrefix is the fewest characters before '*' in a prefix term.
	minPrefix = 2
)

// SyntaxError reports a query that cannot be parsed; Pos is the byte offset
// in the query where the problem is.
type SyntaxError struct {
	Pos int
	Msg string
}

// Error returns "at POS: MSG".
func (e *SyntaxError) Error() string { return fmt.Sprintf("at %d: %s", e.Pos, e.Msg) }

func errAt(pos int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokPhrase
	tokLParen
	tokRParen
	tokNeg
	tokOr
	tokAnd
)

type token struct {
	kind tokKind
	pos  int
	text string // word text, or phrase content without quotes
	// quoted marks a field clause whose value was quoted; it is always a
	// field clause, never a URL, pattern or fuzzy term.
	quoted bool
}

func lex(q string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(q) {
		r, size := utf8.DecodeRuneInString(q[i:])
		switch {
		case unicode.IsSpace(r):
			i += size
		case r == '(':
			toks = append(toks, token{kind: tokLParen, pos: i})
			i++
		case r == ')':
			toks = append(toks, token{kind: tokRParen, pos: i})
			i++
		case r == '"':
			end := strings.IndexByte(q[i+1:], '"')
			if end < 0 {
				return nil, errAt(i, "unterminated quote")
			}
			toks = append(toks, token{kind: tokPhrase, pos: i, text: q[i+1 : i+1+end]})
			i += end + 2
		case r == '-' && i+1 < len(q) && startsOperand(q[i+1:]):
			toks = append(toks, token{kind: tokNeg, pos: i})
			i++
		default:
			start := i
			for i < len(q) {
				r, size := utf8.DecodeRuneInString(q[i:])
				if unicode.IsSpace(r) || r == '(' || r == ')' || r == '"' {
					break
				}
				i += size
			}
			w := q[start:i]
			if i < len(q) && q[i] == '"' && len(w) > 1 && w[len(w)-1] == ':' && fieldNamePattern.MatchString(w[:len(w)-1]) {
				// A quoted field value: from:"Tide Watcher".
				end := strings.IndexByte(q[i+1:], '"')
				if end < 0 {
					return nil, errAt(i, "unterminated quote")
				}
				w += q[i+1 : i+1+end]
				i += end + 2
				toks = append(toks, token{kind: tokWord, pos: start, text: w, quoted: true})
				continue
			}
			switch w {
			case "OR":
				toks = append(toks, token{kind: tokOr, pos: start})
			case "AND":
				toks = append(toks, token{kind: tokAnd, pos: start})
			default:
				toks = append(toks, token{kind: tokWord, pos: start, text: w})
			}
		}
	}
	return append(toks, token{kind: tokEOF, pos: len(q)}), nil
}

// startsOperand reports whether s, following a '-', begins something that
// can be negated rather than being whitespace or a closing parenthesis.
func startsOperand(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return !unicode.IsSpace(r) && r != ')' && r != '-'
}

type parser struct {
	toks    []token
	i       int
	clauses int
	// expanding counts the prefix, wildcard and fuzzy terms.
	expanding int
	depth     int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

// Parse parses a query into its syntax tree. Words are analyzed as the index
// analyzes text; words that yield no term are dropped. Errors are
// *SyntaxError.
func Parse(q string) (Expr, error) {
	if len(q) > MaxQueryBytes {
		return nil, errAt(MaxQueryBytes, "query is longer than %d bytes", MaxQueryBytes)
	}
	if !utf8.ValidString(q) {
		return nil, errAt(invalidUTF8At(q), "query is not valid UTF-8")
	}
	if strings.TrimSpace(q) == "" {
		return nil, errAt(0, "empty query")
	}
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		if t.kind == tokRParen {
			return nil, errAt(t.pos, "unbalanced ')'")
		}
		return nil, errAt(t.pos, "unexpected input")
	}
	if n == nil {
		return nil, errAt(0, "query has no searchable terms")
	}
	if !hasPositive(n) {
		return nil, errAt(0, "query needs at least one positive term")
	}
	return n, nil
}

func invalidUTF8At(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return i
			}
		}
	}
	return 0
}

// hasPositive reports whether n can match by itself rather than only exclude.
func hasPositive(n Expr) bool {
	switch n := n.(type) {
	case *Not:
		return false
	case *And:
		for _, c := range n.Children {
			if hasPositive(c) {
				return true
			}
		}
		return false
	case *Or:
		for _, c := range n.Children {
			if !hasPositive(c) {
				return false
			}
		}
		return len(n.Children) > 0
	default:
		return n != nil
	}
}

func (p *parser) parseOr() (Expr, error) {
	var branches []Expr
	for {
		start := p.peek().pos
		n, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		if n != nil {
			if !hasPositive(n) && (len(branches) > 0 || p.peek().kind == tokOr) {
				return nil, errAt(start, "each side of OR needs at least one positive term")
			}
			branches = append(branches, n)
		}
		if p.peek().kind != tokOr {
			break
		}
		or := p.next()
		if start == or.pos {
			return nil, errAt(or.pos, "OR needs a term on both sides")
		}
		if k := p.peek().kind; k == tokEOF || k == tokRParen || k == tokOr {
			return nil, errAt(or.pos, "OR needs a term on both sides")
		}
	}
	switch len(branches) {
	case 0:
		return nil, nil
	case 1:
		return branches[0], nil
	}
	var flat []Expr
	for _, b := range branches {
		if o, ok := b.(*Or); ok {
			flat = append(flat, o.Children...)
		} else {
			flat = append(flat, b)
		}
	}
	return &Or{Children: flat}, nil
}

func (p *parser) parseAnd() (Expr, error) {
	var children []Expr
	operands := 0
	for {
		t := p.peek()
		switch t.kind {
		case tokEOF, tokRParen, tokOr:
			return makeAnd(children), nil
		case tokAnd:
			p.next()
			if k := p.peek().kind; operands == 0 || k == tokEOF || k == tokRParen || k == tokOr || k == tokAnd {
				return nil, errAt(t.pos, "AND needs a term on both sides")
			}
			continue
		}
		operands++
		n, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if n == nil {
			continue
		}
		if a, ok := n.(*And); ok {
			children = append(children, a.Children...)
		} else {
			children = append(children, n)
		}
	}
}

func makeAnd(children []Expr) Expr {
	switch len(children) {
	case 0:
		return nil
	case 1:
		return children[0]
	}
	return &And{Children: children}
}

func (p *parser) parseUnary() (Expr, error) {
	t := p.peek()
	if t.kind != tokNeg {
		return p.parsePrimary()
	}
	p.next()
	if k := p.peek().kind; k == tokNeg {
		return nil, errAt(p.peek().pos, "double negation")
	}
	n, err := p.parsePrimary()
	if err != nil || n == nil {
		return nil, err
	}
	return &Not{Child: n}, nil
}

func (p *parser) parsePrimary() (Expr, error) {
	t := p.next()
	switch t.kind {
	case tokLParen:
		p.depth++
		if p.depth > MaxDepth {
			return nil, errAt(t.pos, "parentheses nest deeper than %d", MaxDepth)
		}
		if p.peek().kind == tokRParen {
			return nil, errAt(t.pos, "empty group")
		}
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRParen {
			return nil, errAt(t.pos, "unbalanced '(': missing ')'")
		}
		p.depth--
		return n, nil
	case tokPhrase:
		return p.leaf(t.pos, phraseNode(t.text))
	case tokWord:
		n, err := p.word(t)
		if err != nil {
			return nil, err
		}
		return p.leaf(t.pos, n)
	case tokRParen:
		return nil, errAt(t.pos, "unbalanced ')'")
	case tokOr, tokAnd:
		return nil, errAt(t.pos, "%s needs a term on both sides", t.kindName())
	default:
		return nil, errAt(t.pos, "query ends where a term is expected")
	}
}

func (t token) kindName() string {
	if t.kind == tokAnd {
		return "AND"
	}
	return "OR"
}

func (p *parser) leaf(pos int, n Expr) (Expr, error) {
	if n == nil {
		return nil, nil
	}
	p.clauses++
	if p.clauses > MaxClauses {
		return nil, errAt(pos, "query has more than %d clauses", MaxClauses)
	}
	switch n.(type) {
	case *Prefix, *Wildcard, *Fuzzy:
		p.expanding++
		if p.expanding > MaxExpanding {
			return nil, errAt(pos, "query has more than %d prefix, wildcard or fuzzy terms (word*, wo?d, word~)", MaxExpanding)
		}
	}
	return n, nil
}

var (
	fieldNamePattern = regexp.MustCompile(`^[A-Za-z_]+$`)
	urlPattern       = regexp.MustCompile(`(?i)^https?://`)
)

// knownFields lists the field prefixes of the query language.
var knownFields = []string{"from", "lang", "since", "until"}

// word parses one bare word: a field clause, a tag or mention, a prefix,
// wildcard or fuzzy term, or plain text.
func (p *parser) word(t token) (Expr, error) {
	w := t.text
	if t.quoted {
		i := strings.IndexByte(w, ':')
		return fieldNode(strings.ToLower(w[:i]), strings.TrimSpace(w[i+1:]), t.pos)
	}
	if urlPattern.MatchString(w) {
		return textNode(w), nil
	}
	if i := strings.IndexByte(w, ':'); i > 0 && fieldNamePattern.MatchString(w[:i]) {
		return fieldNode(strings.ToLower(w[:i]), w[i+1:], t.pos)
	}
	if w[0] == '#' || w[0] == '@' {
		if n := tagNode(w); n != nil {
			return n, nil
		}
	}
	if i := strings.LastIndexByte(w, '~'); i > 0 {
		if n, ok, err := fuzzyNode(w[:i], w[i+1:], t.pos+i); ok || err != nil {
			return n, err
		}
	}
	trimmed := strings.TrimRight(w, "?")
	if strings.ContainsAny(trimmed, "*?") {
		return patternNode(trimmed, t.pos)
	}
	return textNode(w), nil
}

// tagNode returns the tag or mention term of w ("#Go," is "#go") when w is a
// single tag or mention, and nil otherwise.
func tagNode(w string) Expr {
	toks := index.Tokens(w)
	if len(toks) == 0 || toks[0].Start != 0 || toks[0].Term[0] != w[0] {
		return nil
	}
	for _, t := range toks[1:] {
		if t.Position != toks[0].Position {
			return nil // more words follow the tag
		}
	}
	return &Term{Field: index.FieldText, Term: toks[0].Term}
}

func fuzzyNode(term, dist string, pos int) (Expr, bool, error) {
	d := 1
	if dist != "" {
		n, err := strconv.Atoi(dist)
		if err != nil || n < 0 {
			return nil, false, nil // not a fuzzy suffix; treat as text
		}
		if n > MaxFuzziness {
			return nil, true, errAt(pos, "fuzziness %d is more than %d", n, MaxFuzziness)
		}
		d = n
	}
	if strings.ContainsAny(term, "*?~") {
		return nil, true, errAt(pos, "fuzzy term cannot hold wildcards")
	}
	t := strings.ToLower(term)
	if t == "" {
		return nil, false, nil
	}
	return &Fuzzy{Term: t, Distance: d}, true, nil
}

func patternNode(w string, pos int) (Expr, error) {
	lw := strings.ToLower(w)
	if strings.HasSuffix(lw, "*") && !strings.ContainsAny(lw[:len(lw)-1], "*?") {
		pre := lw[:len(lw)-1]
		if utf8.RuneCountInString(pre) < minPrefix {
			return nil, errAt(pos, "prefix needs at least %d characters before '*'", minPrefix)
		}
		return &Prefix{Prefix: pre}, nil
	}
	literal := 0
	for _, r := range lw {
		if r != '*' && r != '?' {
			literal++
		}
	}
	if literal < minPrefix {
		return nil, errAt(pos, "wildcard needs at least %d characters besides '*' and '?'", minPrefix)
	}
	if lw[0] == '*' || lw[0] == '?' {
		return nil, errAt(pos, "wildcard cannot start with '*' or '?'")
	}
	return &Wildcard{Pattern: lw}, nil
}

// slots groups the analyzed tokens of text by position.
func slots(text string) [][]string {
	var out [][]string
	last := -1
	for _, tok := range index.Tokens(text) {
		if tok.Position != last || len(out) == 0 {
			out = append(out, nil)
			last = tok.Position
		}
		s := &out[len(out)-1]
		dup := false
		for _, t := range *s {
			dup = dup || t == tok.Term
		}
		if !dup {
			*s = append(*s, tok.Term)
		}
	}
	return out
}

// textNode analyzes plain text: nothing, a single term, or a phrase.
func textNode(text string) Expr { return phraseNode(text) }

func phraseNode(text string) Expr {
	s := slots(text)
	switch {
	case len(s) == 0:
		return nil
	case len(s) == 1 && len(s[0]) == 1:
		return &Term{Field: index.FieldText, Term: s[0][0]}
	case len(s) == 1:
		alts := make([]Expr, len(s[0]))
		for i, t := range s[0] {
			alts[i] = &Term{Field: index.FieldText, Term: t}
		}
		return &Or{Children: alts}
	}
	return &Phrase{Slots: s}
}

func fieldNode(field, value string, pos int) (Expr, error) {
	if value == "" {
		if !contains(knownFields, field) {
			return nil, unknownField(field, pos)
		}
		return nil, errAt(pos, "%s: needs a value", field)
	}
	switch field {
	case "from":
		if strings.HasPrefix(value, "12D3") || strings.HasPrefix(value, "Qm") {
			return &Term{Field: index.FieldAuthor, Term: value}, nil
		}
		return &Term{Field: index.FieldLabel, Term: strings.ToLower(value)}, nil
	case "lang":
		return &Term{Field: index.FieldLang, Term: strings.ReplaceAll(strings.ToLower(value), "_", "-")}, nil
	case "since":
		t, err := parseDate(value)
		if err != nil {
			return nil, errAt(pos, "since: %q is not a date from 1970 to 2200; use YYYY-MM-DD or RFC 3339 such as 2006-01-02T15:04:05Z", value)
		}
		return &DateRange{Since: t}, nil
	case "until":
		t, err := parseDate(value)
		if err != nil {
			return nil, errAt(pos, "until: %q is not a date from 1970 to 2200; use YYYY-MM-DD or RFC 3339 such as 2006-01-02T15:04:05Z", value)
		}
		return &DateRange{Until: t}, nil
	}
	return nil, unknownField(field, pos)
}

func unknownField(field string, pos int) error {
	known := append([]string(nil), knownFields...)
	sort.Strings(known)
	return errAt(pos, "unknown field %q; known fields are %s:", field, strings.Join(known, ":, "))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// parseDate accepts YYYY-MM-DD (midnight UTC) or RFC 3339.
func parseDate(s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("parse date %q: %w", s, err)
	}
	if y := t.UTC().Year(); y < 1970 || y > 2200 {
		return time.Time{}, fmt.Errorf("date %q is outside the years 1970 to 2200", s)
	}
	return t.UTC(), nil
}
