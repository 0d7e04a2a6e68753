package web

import (
	"context"
	"fmt"
	"html/template"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
)

// postView is a post ready for a template: its text already escaped, with
// matches marked and links, hashtags and mentions made clickable.
type postView struct {
	*post.Post
	HTML template.HTML
	// AuthorName is the signer's display name from its profile, if any.
	AuthorName string
}

func newPostView(p *post.Post, matches []query.Span) postView {
	return postView{Post: p, HTML: renderText(p.Text, matches)}
}

// nameAuthors sets the views' author names from the authors' profiles.
func (p *Page) nameAuthors(ctx context.Context, views ...*postView) {
	var authors []string
	for _, v := range views {
		authors = append(authors, v.Author)
	}
	names := p.b.Profiles(ctx, authors)
	for _, v := range views {
		if pr := names[v.Author]; pr != nil {
			v.AuthorName = pr.Name
		}
	}
}

// nameAll is nameAuthors over a list of views.
func (p *Page) nameAll(ctx context.Context, views []postView) {
	ptrs := make([]*postView, len(views))
	for i := range views {
		ptrs[i] = &views[i]
	}
	p.nameAuthors(ctx, ptrs...)
}

// link is a clickable piece of a post's text.
type link struct {
	start, end int
	href       string
	external   bool
}

// linkPattern finds URLs, #hashtags and @mentions (with an optional
// @host.tld), the pieces the protocol analyzer indexes on their own.
var linkPattern = regexp.MustCompile(`https?://[^\s<>"'\x{00a0}]+|[#@][\p{L}\p{N}\p{M}_]+(?:@[\p{L}\p{N}\-]+(?:\.[\p{L}\p{N}\-]+)+)?`)

// findLinks returns the clickable pieces of text, in order. A # or @ counts
// only at the start of a word, so "a#b" and e-mail addresses stay text.
func findLinks(text string) []link {
	var out []link
	for _, m := range linkPattern.FindAllStringIndex(text, -1) {
		s, e := m[0], m[1]
		word := text[s:e]
		switch word[0] {
		case 'h':
			// Trailing punctuation usually ends the sentence, not the URL.
			trimmed := strings.TrimRight(word, ".,;:!?)]}'\"")
			if strings.Count(word, "(") > strings.Count(trimmed, ")") && strings.HasSuffix(word, ")") {
				trimmed = word // a balanced "(...)" belongs to the URL
			}
			e = s + len(trimmed)
			u, err := url.Parse(text[s:e])
			if err != nil || u.Host == "" {
				continue
			}
			out = append(out, link{start: s, end: e, href: u.String(), external: true})
		default:
			if s > 0 {
				r, _ := utf8.DecodeLastRuneInString(text[:s])
				if isWordRune(r) || r == '@' || r == '#' {
					continue
				}
			}
			out = append(out, link{start: s, end: e, href: "/?" + url.Values{"q": {word}}.Encode()})
		}
	}
	return out
}

func isWordRune(r rune) bool {
	return r == '_' || r == '.' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// renderText escapes text and marks the matched spans (byte offsets, as
// query.Hit gives them) and the links. Spans that are out of range or cut a
// character in two are ignored: the text is shown, unmarked, rather than
// broken.
func renderText(text string, spans []query.Span) template.HTML {
	var ok []query.Span
	for _, s := range spans {
		if s.Start < 0 || s.End > len(text) || s.Start >= s.End {
			continue
		}
		if !utf8.RuneStart(text[s.Start]) || (s.End < len(text) && !utf8.RuneStart(text[s.End])) {
			continue
		}
		ok = append(ok, s)
	}
	sort.Slice(ok, func(i, j int) bool { return ok[i].Start < ok[j].Start })
	// Merge overlaps so marks never nest.
	merged := ok[:0]
	for _, s := range ok {
		if n := len(merged); n > 0 && s.Start <= merged[n-1].End {
			merged[n-1].End = max(merged[n-1].End, s.End)
			continue
		}
		merged = append(merged, s)
	}
	var b strings.Builder
	marked := func(from, to int) {
		pos := from
		for _, s := range merged {
			if s.End <= from || s.Start >= to {
				continue
			}
			a, z := max(s.Start, from), min(s.End, to)
			b.WriteString(template.HTMLEscapeString(text[pos:a]))
			b.WriteString("<mark>")
			b.WriteString(template.HTMLEscapeString(text[a:z]))
			b.WriteString("</mark>")
			pos = z
		}
		b.WriteString(template.HTMLEscapeString(text[pos:to]))
	}
	pos := 0
	for _, l := range findLinks(text) {
		marked(pos, l.start)
		b.WriteString(`<a href="`)
		b.WriteString(template.HTMLEscapeString(l.href))
		if l.external {
			b.WriteString(`" rel="nofollow noopener noreferrer" class="ext`)
		}
		b.WriteString(`">`)
		marked(l.start, l.end)
		b.WriteString("</a>")
		pos = l.end
	}
	marked(pos, len(text))
	return template.HTML(b.String()) //nolint:gosec // every piece of text above is escaped
}

// shortID shortens a peer ID for display: its start and its end.
func shortID(id string) string {
	if utf8.RuneCountInString(id) <= 16 {
		return id
	}
	return id[:8] + "…" + id[len(id)-6:]
}

// formatTime is a post's time as people read it, in UTC (the script shows
// local time in a tooltip).
func formatTime(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") }

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

func formatDuration(seconds int64) string {
	d := time.Duration(seconds) * time.Second
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", seconds)
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}
