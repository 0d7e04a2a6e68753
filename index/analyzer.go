package index

import (
	"bytes"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	unicodetok "github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/registry"
)

// AnalyzerVersion versions the protocol analyzer. Every node must derive the
// same terms from the same text, because terms decide where a post is stored
// in the network; a change to the rules below is a new version.
const AnalyzerVersion = 2

// AnalyzerName is the name under which the protocol analyzer is registered
// with bleve and used by the index mapping. It kept the first version's
// name, so that an index built by an older version opens to be rebuilt
// (Open); the rules are versioned by AnalyzerVersion.
const AnalyzerName = "murmur-v1"

const tokenizerName = "murmur-v1-tokenizer"

// The rules of analyzer version 2:
//   - text is split into words by Unicode word segmentation (UAX #29), keeping
//     letters, numbers, ideographs and kana; underscores that start or end a
//     word are emphasis, not part of it ("_word_" is "word", "snake_case"
//     stays whole);
//   - "#tag" is kept as the term "#tag" and also yields the words of "tag" (as
//     plain text would), the first at the tag's position, so a search for the
//     word finds the hashtag;
//   - "@name" and "@name@host.tld" are kept whole as mentions, and also yield
//     the words of "name" at the mention's position, so a search for the
//     name finds the mention (version 1 kept the mention alone);
//   - an http(s) URL yields its host name without "www." and without port;
//   - '#' and '@' only start a tag or mention at the start of the text or after
//     a character that is not a letter, digit or '_' ("bob@example.org" is the
//     words "bob", "example.org"... via segmentation, not a mention);
//   - every term is lower-cased rune by rune (Unicode simple case mapping).
var specialPattern = regexp.MustCompile(`(?i)https?://[^\s<>"'` + "`" + `]+|#[\p{L}\p{N}_]+|@[\p{L}\p{N}_]+(?:@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+)?`)

// specialSpans returns the spans of input that specialPattern matches.
// Most posts hold no '#', '@' or "://", which every match needs; for
// them it skips the regular expression, which was 7% of an ingest's CPU.
func specialSpans(input []byte) [][]int {
	if !bytes.ContainsAny(input, "#@") && !bytes.Contains(input, []byte("://")) {
		return nil
	}
	return specialPattern.FindAllIndex(input, -1)
}

// urlTrailing is punctuation that ends a sentence rather than a URL.
const urlTrailing = ".,;:!?)]}'\""

// Token is one term of a text with where it came from.
type Token struct {
	Term     string // the indexed term
	Start    int    // byte offset of the source span in the text
	End      int    // byte offset just past the source span
	Position int    // word position, 1-based; tag and bare word share one
}

type tokenizer struct{ words analysis.Tokenizer }

func (t tokenizer) Tokenize(input []byte) analysis.TokenStream {
	out := make(analysis.TokenStream, 0, len(input)/5+1)
	pos := 0
	words := func(start, end int) {
		for _, tok := range t.plain(input[start:end]) {
			pos++
			tok.Start += start
			tok.End += start
			tok.Position = pos
			out = append(out, tok)
		}
	}
	cur := 0
	for _, m := range specialSpans(input) {
		start, end := m[0], m[1]
		if start < cur {
			continue
		}
		if input[start] == '#' || input[start] == '@' {
			if r, _ := utf8.DecodeLastRune(input[:start]); start > 0 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_') {
				continue // mid-word: "a#b", "bob@example.org"
			}
		}
		words(cur, start)
		cur = end
		switch input[start] {
		case '#':
			// The tag, then its words as plain text would yield them, the
			// first at the tag's own position.
			tagPos := pos + 1
			out = append(out, &analysis.Token{Term: input[start:end], Start: start, End: end, Position: tagPos, Type: analysis.AlphaNumeric})
			inner := t.plain(input[start+1 : end])
			for i, tok := range inner {
				tok.Start += start + 1
				tok.End += start + 1
				tok.Position = tagPos + i
				out = append(out, tok)
			}
			pos = tagPos + max(len(inner), 1) - 1
		case '@':
			// The mention, then the words of its name, the first at the
			// mention's own position.
			atPos := pos + 1
			out = append(out, &analysis.Token{Term: input[start:end], Start: start, End: end, Position: atPos, Type: analysis.AlphaNumeric})
			name := end
			if i := bytes.IndexByte(input[start+1:end], '@'); i >= 0 {
				name = start + 1 + i
			}
			inner := t.plain(input[start+1 : name])
			for i, tok := range inner {
				tok.Start += start + 1
				tok.End += start + 1
				tok.Position = atPos + i
				out = append(out, tok)
			}
			pos = atPos + max(len(inner), 1) - 1
		default:
			raw := strings.TrimRight(string(input[start:end]), urlTrailing)
			end = start + len(raw)
			cur = end
			if host := hostOf(raw); host != "" {
				pos++
				out = append(out, &analysis.Token{Term: []byte(host), Start: start, End: end, Position: pos, Type: analysis.AlphaNumeric})
			}
		}
	}
	words(cur, len(input))
	return out
}

// plain splits text into words: Unicode word segmentation, with the
// underscores that start or end a word (emphasis) taken off it.
func (t tokenizer) plain(text []byte) analysis.TokenStream {
	toks := t.words.Tokenize(text)
	out := toks[:0]
	for _, tok := range toks {
		lead := len(tok.Term) - len(bytes.TrimLeft(tok.Term, "_"))
		term := bytes.Trim(tok.Term, "_")
		if len(term) == 0 {
			continue
		}
		tok.Start += lead
		tok.End = tok.Start + len(term)
		tok.Term = term
		out = append(out, tok)
	}
	return out
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	return strings.TrimPrefix(h, "www.")
}

func init() {
	if err := registry.RegisterTokenizer(tokenizerName, func(map[string]interface{}, *registry.Cache) (analysis.Tokenizer, error) {
		return tokenizer{words: unicodetok.NewUnicodeTokenizer()}, nil
	}); err != nil {
		panic(err)
	}
	if err := registry.RegisterAnalyzer(AnalyzerName, func(_ map[string]interface{}, cache *registry.Cache) (analysis.Analyzer, error) {
		tok, err := cache.TokenizerNamed(tokenizerName)
		if err != nil {
			return nil, err
		}
		lower, err := cache.TokenFilterNamed(lowercase.Name)
		if err != nil {
			return nil, err
		}
		return &analysis.DefaultAnalyzer{Tokenizer: tok, TokenFilters: []analysis.TokenFilter{lower}}, nil
	}); err != nil {
		panic(err)
	}
}

var protocolAnalyzer = &analysis.DefaultAnalyzer{
	Tokenizer:    tokenizer{words: unicodetok.NewUnicodeTokenizer()},
	TokenFilters: []analysis.TokenFilter{lowercase.NewLowerCaseFilter()},
}

// Tokens analyzes text with the protocol analyzer, the same one the index uses.
func Tokens(text string) []Token {
	stream := protocolAnalyzer.Analyze([]byte(text))
	out := make([]Token, len(stream))
	for i, t := range stream {
		out[i] = Token{Term: string(t.Term), Start: t.Start, End: t.End, Position: t.Position}
	}
	return out
}

// Terms returns the distinct terms of text, sorted: the keys under which a
// post with this text is stored in the network.
func Terms(text string) []string {
	toks := Tokens(text)
	seen := make(map[string]struct{}, len(toks))
	out := make([]string, 0, len(toks))
	for _, t := range toks {
		if _, ok := seen[t.Term]; !ok {
			seen[t.Term] = struct{}{}
			out = append(out, t.Term)
		}
	}
	sort.Strings(out)
	return out
}
