package node_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/internal/corpus"
	"github.com/murmur-p2p/murmur/internal/testenv"
)

// The corpus test imports tens of thousands of real short texts (Debian's
// fortunes in nine languages) into a real node over HTTP and checks, for a
// few hundred queries built from those texts, that the node returns exactly
// the posts an independent scan of the same texts says match.
//
// The scan is a plain tokenizer written here, not bleve: runs of letters and
// digits (with their combining marks), lower-cased rune by rune, plus the
// README's rules for #tags, @mentions and URL host names. It does not
// implement Unicode word segmentation (UAX #29), which the index uses, so
// where the two could disagree it says "not sure" instead of guessing: a
// letter run is ambiguous when a character next to it may join it to a
// neighbour under UAX #29 ("don't", "e.g.", "1,000", "foo_bar", a soft
// hyphen), when it mixes in scripts whose segmentation differs (kana,
// Hebrew, Thai...), or when bleve's lower-casing of it is not the plain
// rune mapping. Han ideographs are one word each, as UAX #29 has it.
// Queries are only built from terms for which every post is either a sure
// match or a sure non-match, so the expected answer of every query is exact
// and the comparison is equality, not overlap.

// corpusSize is how many fortunes the test imports, evenly spaced over all
// 90,000 of every language: the most that imports and checks in about 90 s
// under -race on two busy cores (the import takes most of it).
const corpusSize = 20000

// TestCorpusSearchMatchesScan is the corpus proof of the single-node search.
func TestCorpusSearchMatchesScan(t *testing.T) {
	testenv.Need(t, corpus.Available(), "the Debian fortunes corpus", corpus.InstallHint)
	if testing.Short() {
		t.Skip("imports 20,000 posts; skipped with -short")
	}
	entries, err := corpus.Load()
	if err != nil {
		t.Fatalf("load corpus: %v", err)
	}
	docs := corpusDocs(entries)
	if len(docs) < corpusSize {
		t.Fatalf("corpus sample has %d texts, want at least %d", len(docs), corpusSize)
	}
	sc := newScan(docs)

	n := start(t, t.TempDir())
	began := time.Now()
	importCorpus(t, n, docs)
	t.Logf("imported %d posts (%d languages) in %v", len(docs), len(sc.langs), time.Since(began).Round(time.Millisecond))

	qs := sc.queries(rand.New(rand.NewPCG(2, 12)))
	sc.checkDiscriminates(t, qs)
	if len(qs) < 300 {
		t.Fatalf("built only %d queries, want at least 300", len(qs))
	}

	began = time.Now()
	byText := make(map[string]int, len(docs))
	for i, d := range docs {
		byText[d.text] = i
	}
	failed, hits := 0, 0
	for _, q := range qs {
		want := q.want
		got, msg := n.matchTexts(t, q.text, byText)
		hits += len(got)
		if msg == "" && slices.Equal(got, want) {
			continue
		}
		failed++
		if failed <= 15 {
			t.Errorf("%s", sc.describe(q, got, want, msg))
		}
	}
	if failed > 15 {
		t.Errorf("... and %d more queries did not match the scan", failed-15)
	}
	t.Logf("%d queries (%d of them failed), %d hits compared in %v", len(qs), failed, hits, time.Since(began).Round(time.Millisecond))
}

// cdoc is one text of the test corpus as the independent scan sees it.
type cdoc struct {
	text    string
	lang    string
	label   string
	created time.Time
	toks    []ctok
	clean   map[string]bool // terms with an occurrence the index surely has
	amb     map[string]bool // terms with an occurrence the scan is unsure of
}

// ctok is one term occurrence. Positions follow the index's rules (a tag
// shares its position with its first word); they are exact relative to each
// other only between two ambiguous tokens (a "stretch").
type ctok struct {
	term    string
	pos     int
	clean   bool
	stretch int
}

// Synthetic posts: the fortunes hold almost no hashtags or mentions, so a
// few hundred texts get them, along with links, in every place a post may
// carry them. Tag and mention words are common words of the corpus, so that
// "#love" and "love" (and "@time" and "time") answer differently.
var (
	synthTags     = []string{"love", "life", "time", "money", "work", "god", "world", "music", "truth", "science", "war", "peace", "Linux", "computer", "beer", "cat", "LIEBE", "amor", "vita", "жизнь"}
	synthMentions = []string{"alice", "bob", "carol", "dave", "erin", "time", "love", "frank@fortune.example", "grace@cookies.example.net", "Heidi"}
	synthHosts    = []string{"https://www.fortune.example/love", "http://cookies.example.net/time?x=1", "HTTPS://Quotes.Example.Org/life.", "https://fortune.example:8443/work"}
)

// corpusDocs takes corpusSize fortunes, and turns some of the others
// into tagged, mentioning and linking posts. Every text is distinct, so a hit
// is identified by its text.
func corpusDocs(entries []corpus.Entry) []*cdoc {
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	var docs []*cdoc
	add := func(text, lang, file string) {
		if seen[text] || utf8.RuneCountInString(text) > 1000 {
			return
		}
		seen[text] = true
		docs = append(docs, &cdoc{text: text, lang: lang, label: "fortunes/" + file, created: base.Add(time.Duration(len(docs)) * 61 * time.Minute)})
	}
	step := float64(len(entries)) / corpusSize
	for j := range min(corpusSize, len(entries)) {
		e := entries[int(float64(j)*step)]
		add(e.Text, e.Lang, e.File)
	}
	k := 0
	for i := 1; i < len(entries) && k < 360; i += 250 {
		e := entries[i]
		if utf8.RuneCountInString(e.Text) > 900 {
			continue
		}
		tag, tag2 := "#"+synthTags[k%len(synthTags)], "#"+synthTags[(k*7+3)%len(synthTags)]
		mention := "@" + synthMentions[k%len(synthMentions)]
		link := synthHosts[k%len(synthHosts)]
		var text string
		switch k % 6 {
		case 0:
			text = tag + " " + e.Text
		case 1:
			text = e.Text + " " + tag + ", " + tag2 + "!"
		case 2:
			text = e.Text + " (" + mention + ")"
		case 3:
			text = mention + ": " + e.Text + " " + link
		case 4:
			text = "See " + link + " " + tag + " " + e.Text
		case 5:
			text = e.Text + " cc " + mention + " " + tag
		}
		k++
		add(text, e.Lang, "synthetic")
	}
	return docs
}

// importCorpus sends every doc through the import API in one streamed body.
func importCorpus(t *testing.T, n *running, docs []*cdoc) {
	t.Helper()
	var body strings.Builder
	enc := json.NewEncoder(&body)
	for _, d := range docs {
		if err := enc.Encode(api.ImportLine{Text: d.text, Lang: d.lang, Author: d.label, CreatedAt: d.created.Format(time.RFC3339)}); err != nil {
			t.Fatal(err)
		}
	}
	var res api.ImportResult
	if code, msg := n.call(t, "POST", "/api/v1/import", []byte(body.String()), &res); code != http.StatusOK {
		t.Fatalf("import: %d %s", code, msg)
	}
	if res.Accepted != len(docs) || res.Rejected != 0 {
		t.Fatalf("import: %d accepted, %d rejected (%v), want all %d accepted", res.Accepted, res.Rejected, res.Errors, len(docs))
	}
	if got := n.postCount(t); got != uint64(len(docs)) {
		t.Fatalf("node holds %d posts after the import, want %d", got, len(docs))
	}
}

// matchTexts returns the sorted doc indexes of every hit of q, walking all
// pages of 1,000, and a message if the answer was inconsistent (a hit twice,
// an unknown text, a total that is not the number of hits).
func (r *running) matchTexts(t *testing.T, q string, byText map[string]int) ([]int, string) {
	t.Helper()
	var out []int
	var problems []string
	seen := map[int]bool{}
	params := url.Values{"q": {q}, "limit": {"1000"}}
	var total uint64
	for page := 0; ; page++ {
		res := r.search(t, params)
		if page == 0 {
			total = res.Total
		}
		for _, h := range res.Hits {
			i, ok := byText[h.Text]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("hit %s has a text that was never imported: %.60q", h.ID, h.Text))
			case seen[i]:
				problems = append(problems, fmt.Sprintf("hit %s came twice while paging", h.ID))
			default:
				seen[i] = true
				out = append(out, i)
			}
		}
		if res.NextCursor == "" {
			break
		}
		if len(res.Hits) == 0 || page > 200 {
			problems = append(problems, "paging does not end")
			break
		}
		params.Set("cursor", res.NextCursor)
	}
	if total != uint64(len(seen)) {
		problems = append(problems, fmt.Sprintf("total says %d, paging returned %d", total, len(seen)))
	}
	slices.Sort(out)
	return out, strings.Join(problems, "; ")
}

// --- the independent scan ---------------------------------------------------

// scan holds the tokenized corpus and, per term, the docs holding it.
type scan struct {
	docs  []*cdoc
	clean map[string][]int // term -> docs with a sure occurrence
	amb   map[string][]int // term -> docs with an unsure occurrence
	langs map[string][]int
	// hidden: word -> docs that hold it only inside a link or a mention's host, so
	// must not match it; a tokenizer without those rules would match them.
	hidden map[string][]int
}

func newScan(docs []*cdoc) *scan {
	s := &scan{docs: docs, clean: map[string][]int{}, amb: map[string][]int{}, langs: map[string][]int{}, hidden: map[string][]int{}}
	for i, d := range docs {
		d.toks = tokenize(d.text)
		d.clean, d.amb = map[string]bool{}, map[string]bool{}
		for _, tk := range d.toks {
			if tk.clean {
				d.clean[tk.term] = true
			} else {
				d.amb[tk.term] = true
			}
		}
		for term := range d.clean {
			s.clean[term] = append(s.clean[term], i)
		}
		for term := range d.amb {
			s.amb[term] = append(s.amb[term], i)
		}
		s.langs[d.lang] = append(s.langs[d.lang], i)
		if strings.Contains(d.text, "@") || strings.Contains(d.text, "://") {
			seen := map[string]bool{}
			for _, w := range words(d.text) {
				if w.clean && !seen[w.term] && !d.clean[w.term] && !d.amb[w.term] {
					seen[w.term] = true
					s.hidden[w.term] = append(s.hidden[w.term], i)
				}
			}
		}
	}
	return s
}

// tokenize applies the README's analyzer rules: #tags (kept whole, and their
// words), @mentions and @name@host.tld (kept whole, and the words of the
// name), http(s) URLs
// (the host name without "www." and port, no words); '#' and '@' only start
// a tag or mention at the start or after a character that is not a letter,
// digit or '_'. Everything else is plain words.
func tokenize(text string) []ctok {
	var out []ctok
	pos, stretch := 0, 0
	emit := func(term string, clean bool, at int) {
		if !clean {
			stretch++
		}
		out = append(out, ctok{term: term, pos: at, clean: clean, stretch: stretch})
		if !clean {
			stretch++
		}
	}
	plain := func(s string) {
		for _, w := range words(s) {
			if !w.extra {
				pos++
			}
			emit(w.term, w.clean, pos)
		}
	}
	cur := 0
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		switch {
		case r == 'h' || r == 'H':
			end, ok := urlEnd(text, i)
			if !ok {
				i += size
				continue
			}
			plain(text[cur:i])
			if host := hostName(text[i:end]); host != "" {
				pos++
				emit(host, true, pos)
			}
			i, cur = end, end
		case r == '#' || r == '@':
			end := tagEnd(text, i)
			if end == i+1 {
				i += size
				continue
			}
			if prev, _ := utf8.DecodeLastRuneInString(text[:i]); i > 0 && (unicode.IsLetter(prev) || unicode.IsDigit(prev) || prev == '_') {
				i = end // mid-word: plain text, and nothing special starts inside it
				continue
			}
			plain(text[cur:i])
			term, exact := lower(text[i:end])
			{
				// A tag yields its words, a mention the words of its name
				// (not of its host), the first at its own position.
				name := end
				if r == '@' {
					if j := strings.IndexByte(text[i+1:end], '@'); j >= 0 {
						name = i + 1 + j
					}
				}
				inner := words(text[i+1 : name])
				clean := exact
				for _, w := range inner {
					clean = clean && w.clean
				}
				tagPos := pos + 1
				emit(term, clean, tagPos)
				p := tagPos - 1
				for _, w := range inner {
					if !w.extra {
						p++
					}
					emit(w.term, w.clean, p)
				}
				pos = max(p, tagPos)
			}
			i, cur = end, end
		default:
			i += size
		}
	}
	plain(text[cur:])
	return out
}

// urlEnd returns where an http(s) URL starting at i ends, after trailing
// sentence punctuation is cut off.
func urlEnd(text string, i int) (int, bool) {
	rest := text[i:]
	n := 0
	for _, p := range []string{"http://", "https://"} {
		if len(rest) >= len(p) && strings.EqualFold(rest[:len(p)], p) {
			n = len(p)
		}
	}
	if n == 0 {
		return 0, false
	}
	end := i + n
	for end < len(text) {
		r, size := utf8.DecodeRuneInString(text[end:])
		if unicode.IsSpace(r) || strings.ContainsRune("<>\"'`", r) {
			break
		}
		end += size
	}
	if end == i+n {
		return 0, false
	}
	return i + len(strings.TrimRight(text[i:end], ".,;:!?)]}'\"")), true
}

func hostName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	return strings.TrimPrefix(h, "www.")
}

// tagEnd returns the end of "#name", "@name" or "@name@host.tld" at i (i+1
// when nothing follows the sign).
func tagEnd(text string, i int) int {
	nameChar := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) || r == '_' }
	hostChar := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) || r == '-' }
	run := func(at int, ok func(rune) bool) int {
		for at < len(text) {
			r, size := utf8.DecodeRuneInString(text[at:])
			if !ok(r) {
				break
			}
			at += size
		}
		return at
	}
	end := run(i+1, nameChar)
	if end == i+1 || text[i] != '@' || end >= len(text) || text[end] != '@' {
		return end
	}
	host := run(end+1, hostChar)
	if host == end+1 {
		return end
	}
	labels := 0
	for host < len(text) && text[host] == '.' {
		next := run(host+1, hostChar)
		if next == host+1 {
			break
		}
		host, labels = next, labels+1
	}
	if labels == 0 {
		return end
	}
	return host
}

// word is one plain word: clean when the index surely has exactly it as a
// term; extra for an alternative reading of ambiguous text, which takes no
// position of its own.
type word struct {
	term         string
	clean, extra bool
}

// words splits plain text into runs of letters and digits, with combining
// marks, and judges each.
func words(s string) []word {
	var out []word
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			i += size
			continue
		}
		start := i
		for i < len(s) {
			r, size := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) {
				break
			}
			i += size
		}
		out = append(out, runWords(s, start, i)...)
	}
	return out
}

// runWords judges the run s[start:end]. Han ideographs are words of their
// own; Latin, Cyrillic and Greek letters with digits are one word; any other
// script makes the whole run unsure.
func runWords(s string, start, end int) []word {
	run := s[start:end]
	type piece struct {
		text string
		han  bool
	}
	var pieces []piece
	other, open := false, false // open: the last piece may grow
	for i := 0; i < len(run); {
		r, size := utf8.DecodeRuneInString(run[i:])
		switch {
		case unicode.Is(unicode.Han, r):
			pieces = append(pieces, piece{text: run[i : i+size], han: true})
			open = false
		case unicode.IsMark(r) && len(pieces) > 0 && pieces[len(pieces)-1].han:
			other = true // a mark on an ideograph: leave it alone
		case unicode.IsDigit(r) || unicode.IsMark(r) || unicode.In(r, unicode.Latin, unicode.Cyrillic, unicode.Greek):
			if open {
				pieces[len(pieces)-1].text += run[i : i+size]
			} else {
				pieces = append(pieces, piece{text: run[i : i+size]})
				open = true
			}
		default:
			other, open = true, false
		}
		i += size
	}
	var out []word
	if other {
		term, _ := lower(run)
		out = append(out, word{term: term})
		for _, p := range pieces {
			term, _ := lower(p.text)
			out = append(out, word{term: term, extra: true})
		}
		return out
	}
	leftJoin, rightJoin := joinsLeft(s, start), joinsRight(s, end)
	for i, p := range pieces {
		term, exact := lower(p.text)
		clean := exact
		if i == 0 && leftJoin || i == len(pieces)-1 && rightJoin {
			clean = false
		}
		out = append(out, word{term: term, clean: clean})
	}
	if rightJoin && !pieces[len(pieces)-1].han {
		// Under UAX #29 "example.org" or "e.g" may be one term: offer the
		// joined reading too, so no query relies on its absence.
		j := end
		for j < len(s) {
			r, size := utf8.DecodeRuneInString(s[j:])
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) && !joiner(r) {
				break
			}
			j += size
		}
		term, _ := lower(strings.TrimRightFunc(s[start:j], joiner))
		out = append(out, word{term: term, extra: true})
	}
	return out
}

// joiner reports the characters that may join letters or digits on both
// sides into one word under UAX #29 (MidLetter, MidNumLet, MidNum,
// Single_Quote), taken broadly.
func joiner(r rune) bool {
	return strings.ContainsRune("'.:,;’‘·\u2024\uFE52\uFF07\uFF0E\uFE13\uFE55\uFF1A\u0387\u2027\u05F4\uFE50\uFE54\uFF0C\uFF1B\u037E\u0589\u060C\u060D\u066C\u07F8\u2044\uFE10\uFE14", r)
}

// hard reports a character that surely ends a word next to it.
func hard(r rune) bool {
	switch {
	case unicode.IsSpace(r):
		return true
	case joiner(r), r == '_', unicode.Is(unicode.Pc, r), unicode.Is(unicode.Cf, r):
		return false
	case unicode.IsPunct(r):
		return true
	case unicode.IsSymbol(r):
		return r < utf8.RuneSelf // other symbols include letter-like ones (Ⓐ)
	}
	return false
}

func wordish(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || unicode.Is(unicode.Cf, r)
}

// joinsLeft reports whether the run starting at i may be joined to what
// precedes it.
func joinsLeft(s string, i int) bool {
	if i == 0 {
		return false
	}
	c, size := utf8.DecodeLastRuneInString(s[:i])
	if joiner(c) {
		c2, _ := utf8.DecodeLastRuneInString(s[:i-size])
		return i-size > 0 && wordish(c2)
	}
	return !hard(c)
}

// joinsRight reports whether the run ending at i may be joined to what
// follows it.
func joinsRight(s string, i int) bool {
	if i == len(s) {
		return false
	}
	c, size := utf8.DecodeRuneInString(s[i:])
	if joiner(c) {
		c2, _ := utf8.DecodeRuneInString(s[i+size:])
		return i+size < len(s) && wordish(c2)
	}
	return !hard(c)
}

// lower lower-cases rune by rune, with a final capital sigma becoming 'ς' as
// bleve's filter does. It reports false when bleve's filter is known to get
// the term wrong: after a rune whose lower case is shorter in UTF-8 (İ, K),
// bleve v2.6's toLowerDeferredCopy stops moving the bytes that follow.
func lower(s string) (string, bool) {
	var b strings.Builder
	exact := true
	for i, r := range s {
		l := unicode.ToLower(r)
		if r == 'Σ' && i+len("Σ") == len(s) {
			l = 'ς'
		}
		if l != r && utf8.RuneLen(l) != utf8.RuneLen(r) {
			exact = false
		}
		b.WriteRune(l)
	}
	return b.String(), exact
}

// --- queries -----------------------------------------------------------------

// tri is a scan's answer for one doc: no, yes, or not sure.
type tri int8

const (
	no tri = iota
	yes
	unsure
)

// cq is a query: its text in the query language and its meaning.
type cq interface {
	String() string
	eval(d *cdoc) tri
}

type termQ struct{ term string }

func (q termQ) String() string { return q.term }
func (q termQ) eval(d *cdoc) tri {
	switch {
	case d.clean[q.term]:
		return yes
	case d.amb[q.term]:
		return unsure
	}
	return no
}

type phraseQ struct{ terms []string }

func (q phraseQ) String() string { return `"` + strings.Join(q.terms, " ") + `"` }
func (q phraseQ) eval(d *cdoc) tri {
	for _, t := range q.terms {
		if d.amb[t] {
			return unsure
		}
		if !d.clean[t] {
			return no
		}
	}
	// Every occurrence is sure, and sure tokens' positions are exact within
	// a stretch; ambiguous text between stretches takes at least one
	// position in the index, so a phrase cannot span two stretches.
	at := map[[2]int]map[string]bool{}
	for _, tk := range d.toks {
		if tk.clean {
			k := [2]int{tk.stretch, tk.pos}
			if at[k] == nil {
				at[k] = map[string]bool{}
			}
			at[k][tk.term] = true
		}
	}
	for _, tk := range d.toks {
		if !tk.clean || tk.term != q.terms[0] {
			continue
		}
		ok := true
		for j, t := range q.terms[1:] {
			if !at[[2]int{tk.stretch, tk.pos + j + 1}][t] {
				ok = false
				break
			}
		}
		if ok {
			return yes
		}
	}
	return no
}

type andQ []cq

func (q andQ) String() string {
	parts := make([]string, len(q))
	for i, c := range q {
		parts[i] = c.String()
	}
	return strings.Join(parts, " ")
}
func (q andQ) eval(d *cdoc) tri {
	out := yes
	for _, c := range q {
		switch c.eval(d) {
		case no:
			return no
		case unsure:
			out = unsure
		}
	}
	return out
}

type orQ []cq

func (q orQ) String() string {
	parts := make([]string, len(q))
	for i, c := range q {
		parts[i] = c.String()
	}
	return strings.Join(parts, " OR ")
}
func (q orQ) eval(d *cdoc) tri {
	out := no
	for _, c := range q {
		switch c.eval(d) {
		case yes:
			return yes
		case unsure:
			out = unsure
		}
	}
	return out
}

type notQ struct{ c cq }

func (q notQ) String() string { return "-" + q.c.String() }
func (q notQ) eval(d *cdoc) tri {
	switch q.c.eval(d) {
	case yes:
		return no
	case no:
		return yes
	}
	return unsure
}

type langQ string

func (q langQ) String() string { return "lang:" + string(q) }
func (q langQ) eval(d *cdoc) tri {
	if d.lang == string(q) {
		return yes
	}
	return no
}

type fromQ string

func (q fromQ) String() string { return "from:" + string(q) }
func (q fromQ) eval(d *cdoc) tri {
	if strings.EqualFold(d.label, string(q)) {
		return yes
	}
	return no
}

// dateQ is since: (inclusive) or until: (exclusive) a day.
type dateQ struct {
	until bool
	day   time.Time
}

func (q dateQ) String() string {
	if q.until {
		return "until:" + q.day.Format(time.DateOnly)
	}
	return "since:" + q.day.Format(time.DateOnly)
}
func (q dateQ) eval(d *cdoc) tri {
	if d.created.Before(q.day) == q.until {
		return yes
	}
	return no
}

// built is a query with its exact expected answer.
type built struct {
	kind string
	q    cq
	text string
	want []int
}

// expect evaluates q over every doc that may match; ok is false when any
// answer is unsure.
func (s *scan) expect(q cq) ([]int, bool) {
	cands, all := s.candidates(q)
	if all {
		cands = make([]int, len(s.docs))
		for i := range cands {
			cands[i] = i
		}
	}
	var out []int
	for _, i := range cands {
		switch q.eval(s.docs[i]) {
		case yes:
			out = append(out, i)
		case unsure:
			return nil, false
		}
	}
	return out, true
}

// candidates returns, sorted, the docs outside which q surely does not
// match, or all when that is every doc.
func (s *scan) candidates(q cq) (docs []int, all bool) {
	switch q := q.(type) {
	case termQ:
		return union(s.clean[q.term], s.amb[q.term]), false
	case phraseQ:
		return union(s.clean[q.terms[0]], s.amb[q.terms[0]]), false
	case langQ:
		return s.langs[string(q)], false
	case andQ:
		for _, c := range q {
			if docs, all := s.candidates(c); !all {
				return docs, false
			}
		}
	case orQ:
		var out []int
		for _, c := range q {
			docs, all := s.candidates(c)
			if all {
				return nil, true
			}
			out = union(out, docs)
		}
		return out, false
	}
	return nil, true
}

func union(a, b []int) []int {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

func (s *scan) df(term string) int { return len(s.clean[term]) }

// sound reports a term every doc surely has or surely lacks.
func (s *scan) sound(term string) bool { return len(s.amb[term]) == 0 }

// queryWord reports a term the query parser reads back as itself: letters
// and digits only, not an operator.
func queryWord(term string) bool {
	if term == "or" || term == "and" || term == "not" || term == "" {
		return false
	}
	for _, r := range term {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) {
			return false
		}
	}
	return true
}

// hostWord reports a host name the query parser reads back as one term:
// labels of letters, so every dot stands between two letters.
func hostWord(term string) bool {
	for _, label := range strings.Split(term, ".") {
		if label == "" || strings.IndexFunc(label, func(r rune) bool { return !unicode.IsLetter(r) }) >= 0 {
			return false
		}
	}
	return true
}

// queries builds a few hundred queries of every kind, deterministically from
// rng, each with an exact expected answer of manageable size.
func (s *scan) queries(rng *rand.Rand) []built {
	// Candidate terms by kind, in a stable order.
	var wordTerms, tags, mentions, hosts, han []string
	for term := range s.clean {
		if !s.sound(term) {
			continue
		}
		switch {
		case strings.HasPrefix(term, "#"):
			tags = append(tags, term)
		case strings.HasPrefix(term, "@"):
			mentions = append(mentions, term)
		case strings.Contains(term, "."):
			if hostWord(term) {
				hosts = append(hosts, term)
			}
		case queryWord(term) && utf8.RuneCountInString(term) == 1 && unicode.Is(unicode.Han, []rune(term)[0]):
			han = append(han, term)
		case queryWord(term):
			wordTerms = append(wordTerms, term)
		}
	}
	for _, l := range [][]string{wordTerms, tags, mentions, hosts, han} {
		slices.Sort(l)
	}
	band := func(lo, hi int) []string {
		var out []string
		for _, w := range wordTerms {
			if df := s.df(w); df >= lo && df <= hi {
				out = append(out, w)
			}
		}
		return out
	}
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	rare, mid, common := band(1, 3), band(4, 200), band(1100, 1800)

	var out []built
	seen := map[string]bool{}
	const maxHits = 2000 // keeps the HTTP paging under the time budget
	add := func(kind string, q cq, atLeast int, mustDiffer bool) bool {
		text := q.String()
		if seen[text] {
			return false
		}
		want, ok := s.expect(q)
		if !ok || len(want) < atLeast || len(want) > maxHits {
			return false
		}
		if mustDiffer && !s.differs(q, want) {
			return false
		}
		seen[text] = true
		out = append(out, built{kind: kind, q: q, text: text, want: want})
		return true
	}
	// fill tries gen until n queries of a kind are in, or gives up. The
	// first sharp of them must answer differently from the same query
	// without its operator (see weaker), so the kind's operator is tested.
	fill := func(kind string, n, sharp int, gen func() (cq, int)) {
		got := 0
		for tries := 0; got < n && tries < 200*n; tries++ {
			if q, atLeast := gen(); q != nil && add(kind, q, atLeast, got < sharp) {
				got++
			}
		}
	}
	// A random doc's sure, sound, queryable words in order, with positions.
	docWords := func() (*cdoc, []ctok) {
		d := s.docs[rng.IntN(len(s.docs))]
		var ws []ctok
		for _, tk := range d.toks {
			if tk.clean && queryWord(tk.term) && s.sound(tk.term) && !strings.HasPrefix(tk.term, "#") {
				ws = append(ws, tk)
			}
		}
		return d, ws
	}

	fill("rare word", 35, 0, func() (cq, int) { return termQ{pick(rare)}, 1 })
	fill("word", 40, 0, func() (cq, int) { return termQ{pick(mid)}, 1 })
	if len(common) > 0 {
		fill("common word", 3, 0, func() (cq, int) { return termQ{pick(common)}, 1 })
	}
	fill("AND", 35, 0, func() (cq, int) {
		_, ws := docWords()
		if len(ws) < 2 {
			return nil, 0
		}
		a, b := ws[rng.IntN(len(ws))].term, ws[rng.IntN(len(ws))].term
		if a == b {
			return nil, 0
		}
		return andQ{termQ{a}, termQ{b}}, 1
	})
	fill("AND, no match", 6, 0, func() (cq, int) { return andQ{termQ{pick(rare)}, termQ{pick(rare)}}, 0 })
	phrase := func(n int, reversed bool) func() (cq, int) {
		return func() (cq, int) {
			_, ws := docWords()
			if len(ws) < n {
				return nil, 0
			}
			i := rng.IntN(len(ws) - n + 1)
			terms := []string{ws[i].term}
			for j := 1; j < n; j++ {
				tk := ws[i+j]
				if tk.stretch != ws[i].stretch || tk.pos != ws[i].pos+j {
					return nil, 0
				}
				terms = append(terms, tk.term)
			}
			if reversed {
				slices.Reverse(terms)
				if terms[0] == terms[len(terms)-1] {
					return nil, 0
				}
				return phraseQ{terms}, 0
			}
			return phraseQ{terms}, 1
		}
	}
	fill("phrase of 2", 35, 28, phrase(2, false))
	fill("phrase of 3", 25, 18, phrase(3, false))
	fill("reversed phrase", 12, 12, phrase(2, true))
	fill("OR", 20, 0, func() (cq, int) { return orQ{termQ{pick(mid)}, termQ{pick(rare)}}, 1 })
	fill("a -b", 25, 22, func() (cq, int) {
		_, ws := docWords()
		if len(ws) < 2 {
			return nil, 0
		}
		a, b := ws[rng.IntN(len(ws))].term, ws[rng.IntN(len(ws))].term
		if a == b || s.df(a) < 2 {
			return nil, 0
		}
		return andQ{termQ{a}, notQ{termQ{b}}}, 1
	})
	fill(`a -"b c"`, 8, 5, func() (cq, int) {
		q, _ := phrase(2, false)()
		if q == nil {
			return nil, 0
		}
		ph := q.(phraseQ)
		return andQ{termQ{ph.terms[0]}, notQ{ph}}, 1
	})
	langs := make([]string, 0, len(s.langs))
	for l := range s.langs {
		langs = append(langs, l)
	}
	slices.Sort(langs)
	fill("lang:xx word", 25, 18, func() (cq, int) {
		d, ws := docWords()
		if len(ws) == 0 {
			return nil, 0
		}
		return andQ{langQ(d.lang), termQ{ws[rng.IntN(len(ws))].term}}, 1
	})
	fill("word -lang:xx", 4, 0, func() (cq, int) { return andQ{termQ{pick(mid)}, notQ{langQ(pick(langs))}}, 1 })
	fill("#tag", 20, 10, func() (cq, int) { return termQ{pick(tags)}, 1 })
	fill("@mention", 12, 0, func() (cq, int) { return termQ{pick(mentions)}, 1 })
	var hiddenWords []string
	for _, w := range wordTerms {
		if len(s.hidden[w]) > 0 {
			hiddenWords = append(hiddenWords, w)
		}
	}
	if len(hiddenWords) > 0 {
		fill("word also in a mention or link", 10, 0, func() (cq, int) { return termQ{pick(hiddenWords)}, 0 })
	}
	if len(hosts) > 0 {
		fill("host", 5, 0, func() (cq, int) { return termQ{pick(hosts)}, 1 })
	}
	if len(han) > 0 && len(s.langs["zh"]) > 0 {
		fill("ideograph", 6, 0, func() (cq, int) { return termQ{pick(han)}, 1 })
		fill("ideograph phrase", 4, 0, func() (cq, int) {
			d := s.docs[s.langs["zh"][rng.IntN(len(s.langs["zh"]))]]
			for i := 1; i < len(d.toks); i++ {
				a, b := d.toks[i-1], d.toks[i]
				if a.clean && b.clean && a.stretch == b.stretch && b.pos == a.pos+1 && rng.IntN(4) == 0 {
					return phraseQ{[]string{a.term, b.term}}, 1
				}
			}
			return nil, 0
		})
	}
	first, last := s.docs[0].created, s.docs[len(s.docs)-1].created
	day := func() time.Time {
		return first.Add(time.Duration(rng.Int64N(int64(last.Sub(first))))).Truncate(24 * time.Hour)
	}
	fill("since:", 6, 0, func() (cq, int) { return andQ{termQ{pick(mid)}, dateQ{day: day()}}, 1 })
	fill("until:", 6, 0, func() (cq, int) { return andQ{termQ{pick(mid)}, dateQ{until: true, day: day()}}, 1 })
	fill("from:label word", 5, 0, func() (cq, int) {
		d, ws := docWords()
		if len(ws) == 0 || strings.ContainsAny(d.label, " \"") {
			return nil, 0
		}
		return andQ{fromQ(d.label), termQ{ws[0].term}}, 1
	})
	return out
}

// weaker is q without its operator: the AND of a phrase's words, "a" for
// "a -b", "tag" for "#tag", the word without its lang: filter. A broken
// operator would make q answer like its weaker form. It is nil for other
// queries.
func weaker(q cq) cq {
	switch q := q.(type) {
	case phraseQ:
		var and andQ
		for _, w := range q.terms {
			and = append(and, termQ{w})
		}
		return and
	case termQ:
		if strings.HasPrefix(q.term, "#") {
			return termQ{strings.TrimPrefix(q.term, "#")}
		}
	case andQ:
		if len(q) == 2 {
			if _, ok := q[1].(notQ); ok {
				return q[0]
			}
			if _, ok := q[0].(langQ); ok {
				return q[1]
			}
		}
	}
	return nil
}

// differs reports whether q, whose answer is want, answers differently from
// its weaker form; a plain word does when a tokenizer that took mentions and
// links for plain text would match more.
func (s *scan) differs(q cq, want []int) bool {
	if t, ok := q.(termQ); ok && len(s.hidden[t.term]) > 0 {
		return true
	}
	w := weaker(q)
	if w == nil {
		return false
	}
	got, ok := s.expect(w)
	return !ok || !slices.Equal(got, want)
}

// checkDiscriminates fails the test if its queries could not tell a broken
// operator from a working one.
func (s *scan) checkDiscriminates(t *testing.T, qs []built) {
	t.Helper()
	kinds := map[string]int{}
	differs := map[string]int{}
	for _, b := range qs {
		kinds[b.kind]++
		if s.differs(b.q, b.want) {
			differs[b.kind]++
		}
	}
	t.Logf("queries by kind: %v; answering differently without their operator: %v", kinds, differs)
	for kind, least := range map[string]int{"phrase of 2": 25, "phrase of 3": 15, "reversed phrase": 10, "a -b": 20, "#tag": 8, "lang:xx word": 15, "word also in a mention or link": 5} {
		if differs[kind] < least {
			t.Errorf("only %d %q queries answer differently from their operator-less form, want %d: the test would not notice that operator break", differs[kind], kind, least)
		}
	}
}

// describe reports one mismatch: what differs, and why the scan thinks so.
func (s *scan) describe(b built, got, want []int, msg string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s query %q: %d hits, the scan expects %d", b.kind, b.text, len(got), len(want))
	if msg != "" {
		fmt.Fprintf(&sb, " (%s)", msg)
	}
	gotSet := map[int]bool{}
	for _, i := range got {
		gotSet[i] = true
	}
	wantSet := map[int]bool{}
	for _, i := range want {
		wantSet[i] = true
	}
	show := func(label string, idx []int, other map[int]bool) {
		shown := 0
		for _, i := range idx {
			if other[i] {
				continue
			}
			if shown++; shown > 3 {
				fmt.Fprintf(&sb, "\n  (more %s)", label)
				return
			}
			d := s.docs[i]
			fmt.Fprintf(&sb, "\n  %s: [%s] %.120q\n    scan tokens: %s", label, d.lang, d.text, tokenSummary(d))
		}
	}
	show("missing", want, gotSet)
	show("unexpected", got, wantSet)
	return sb.String()
}

func tokenSummary(d *cdoc) string {
	var parts []string
	for _, tk := range d.toks {
		mark := ""
		if !tk.clean {
			mark = "?"
		}
		parts = append(parts, fmt.Sprintf("%s%s@%d", tk.term, mark, tk.pos))
		if len(parts) == 40 {
			parts = append(parts, "...")
			break
		}
	}
	return strings.Join(parts, " ")
}
