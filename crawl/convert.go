package crawl

import (
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/murmur-p2p/murmur/post"
)

// Item is one entry of a source, whatever its format, before it becomes a post.
type Item struct {
	// GUID is the item's stable identifier (RSS guid, Atom id, JSON Feed id,
	// ActivityPub id); Link stands in when it is empty.
	GUID string
	// Link is the item's own web address, kept at the end of the post's text.
	Link string
	// Title, Summary and Content may hold HTML; Convert strips it.
	Title   string
	Summary string
	Content string
	// Published is when the item was written; zero means unknown (the post
	// then gets the time of the crawl).
	Published time.Time
	// Lang is the item's or the feed's language tag, if either says.
	Lang string
	// Author is a human name for the original author, kept as the post label.
	Author string
}

// Key is what identifies the item for de-duplication: its GUID, else its
// link, else its text. Two fetches of the same item give the same key.
func (it Item) Key() string {
	switch {
	case strings.TrimSpace(it.GUID) != "":
		return "g:" + strings.TrimSpace(it.GUID)
	case strings.TrimSpace(it.Link) != "":
		return "l:" + strings.TrimSpace(it.Link)
	}
	return "t:" + it.Title + "\x00" + it.Summary + "\x00" + it.Content
}

// maxLinkChars is the longest item link kept in a post's text; a longer link
// would crowd out the text it points to, so it is left out.
const maxLinkChars = 400

var langPattern = regexp.MustCompile(`^[a-z]{2,3}(-[a-z0-9]{1,8})*$`)

// Convert turns an item into a post draft: the title and the summary (or the
// content when there is no summary) as plain text, cut at a word boundary so
// that the text with the item's link fits post.MaxTextChars; the item's
// date (clamped to now when it lies in the future or before 1970); its
// language when valid; its author as the label; source as the draft's
// source. ok is false when the item holds no text at all.
func Convert(it Item, source string, now time.Time) (d post.Draft, ok bool) {
	title := plainText(it.Title)
	body := plainText(it.Summary)
	if body == "" {
		body = plainText(it.Content)
	}
	// Microblog feeds often repeat the start of the body as the title.
	if title != "" && strings.HasPrefix(body, strings.TrimRight(title, ".…")) {
		title = ""
	}
	text := title
	if body != "" {
		if text != "" {
			text += "\n"
		}
		text += body
	}
	link := cleanLink(it.Link)
	if text == "" {
		return post.Draft{}, false
	}
	budget := post.MaxTextChars
	if link != "" && !strings.Contains(text, link) {
		budget -= utf8.RuneCountInString(link) + 1
	} else {
		link = ""
	}
	text = truncateWords(text, budget)
	if link != "" {
		text += "\n" + link
	}
	d = post.Draft{Text: text, Source: cleanSource(source), Label: cleanLabel(it.Author), Lang: cleanLang(it.Lang)}
	if t := it.Published; !t.IsZero() && !t.Before(time.Unix(0, 0)) && !t.After(now) {
		d.CreatedAt = t
	} else {
		d.CreatedAt = now
	}
	return d, true
}

// blockElements end a run of text: their content is separated by a space.
var skipElements = map[string]bool{"script": true, "style": true, "head": true, "template": true, "noscript": true, "iframe": true, "object": true, "svg": true}

// plainText strips HTML tags, decodes entities, drops control characters and
// folds every run of whitespace to one space.
func plainText(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(s))
	skip := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return foldSpace(b.String())
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			if skipElements[string(name)] && tt == html.StartTagToken {
				skip++
			}
			// Tags separate words (<p>a</p><p>b</p> is "a b"), except inline ones.
			if !inline[string(name)] {
				b.WriteByte(' ')
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if skipElements[string(name)] && skip > 0 {
				skip--
			}
			if !inline[string(name)] {
				b.WriteByte(' ')
			}
		}
	}
}

var inline = map[string]bool{"a": true, "b": true, "i": true, "em": true, "strong": true, "span": true, "code": true, "small": true, "abbr": true, "u": true, "s": true, "sub": true, "sup": true, "mark": true, "q": true, "cite": true, "time": true}

// foldSpace folds whitespace runs to one space, drops other control and
// format characters, and trims.
func foldSpace(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = true
			continue
		case unicode.IsControl(r), r == '\uFEFF', r == '\u200B':
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// truncateWords cuts s to at most max code points, at the last space before
// the limit when there is one in the last fifth, marking the cut with "…".
func truncateWords(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max <= 1 {
		return ""
	}
	runes := []rune(s)[:max-1] // room for the ellipsis
	cut := len(runes)
	for i := len(runes) - 1; i > len(runes)*4/5; i-- {
		if unicode.IsSpace(runes[i]) {
			cut = i
			break
		}
	}
	return strings.TrimRightFunc(string(runes[:cut]), unicode.IsSpace) + "…"
}

// cleanLink returns link if it is an absolute http(s) URL short enough to
// keep, else "".
func cleanLink(link string) string {
	link = strings.TrimSpace(link)
	if link == "" || utf8.RuneCountInString(link) > maxLinkChars || !utf8.ValidString(link) || strings.ContainsFunc(link, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return ""
	}
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return link
}

func cleanSource(s string) string {
	if len(s) > post.MaxSourceLen || !utf8.ValidString(s) || strings.ContainsAny(s, " \n\r\x00") {
		return ""
	}
	return s
}

func cleanLabel(s string) string {
	s = foldSpace(strings.ToValidUTF8(plainText(s), ""))
	for len(s) > post.MaxLabelLen {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

func cleanLang(s string) string {
	s = post.NormalizeLang(s)
	if len(s) > post.MaxLangLen || !langPattern.MatchString(s) {
		return ""
	}
	return s
}
