package crawl

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/murmur-p2p/murmur/post"
)

func TestConvert(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	long := strings.Repeat("lorem ipsum dolor ", 80)
	cases := []struct {
		name string
		in   Item
		want string
		ok   bool
		lang string
		at   time.Time
	}{
		{"html stripped, entities decoded", Item{Title: "Tom &amp; Jerry", Summary: "<p>A <b>cat</b>&nbsp;and a mouse.</p><p>Again&hellip;</p>", Link: "https://ex.org/1"}, "Tom & Jerry\nA cat and a mouse. Again…\nhttps://ex.org/1", true, "", now},
		{"script dropped", Item{Content: "<script>alert(1)</script>hello <br>world"}, "hello world", true, "", now},
		{"summary preferred over content", Item{Summary: "short", Content: "long content"}, "short", true, "", now},
		{"title repeated by body", Item{Title: "Hello world...", Summary: "Hello world, and more"}, "Hello world, and more", true, "", now},
		{"empty", Item{Title: " <br/> ", Link: "https://ex.org"}, "", false, "", now},
		{"bad link dropped", Item{Title: "x", Link: "javascript:alert(1)"}, "x", true, "", now},
		{"date and lang kept", Item{Title: "Hallo", Lang: "de_DE", Published: now.Add(-time.Hour)}, "Hallo", true, "de-de", now.Add(-time.Hour)},
		{"future date clamped, bad lang dropped", Item{Title: "x", Lang: "english!", Published: now.Add(time.Hour)}, "x", true, "", now},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, ok := Convert(c.in, "https://ex.org/feed", now)
			if ok != c.ok || (ok && d.Text != c.want) {
				t.Fatalf("Convert = %q, %v; want %q, %v", d.Text, ok, c.want, c.ok)
			}
			if ok && (d.Lang != c.lang || !d.CreatedAt.Equal(c.at) || d.Source != "https://ex.org/feed") {
				t.Fatalf("draft = %+v", d)
			}
		})
	}
	d, _ := Convert(Item{Title: "T", Summary: long, Link: "https://ex.org/long"}, "", now)
	if n := utf8.RuneCountInString(d.Text); n > post.MaxTextChars || n < post.MaxTextChars-50 {
		t.Fatalf("long text has %d runes", n)
	}
	if !strings.HasSuffix(d.Text, "… \nhttps://ex.org/long"[len("… "):]) || !strings.Contains(d.Text, "dolor…") && !strings.Contains(d.Text, "ipsum…") && !strings.Contains(d.Text, "lorem…") {
		t.Fatalf("long text not cut at a word with the link kept: ...%q", d.Text[len(d.Text)-60:])
	}
}

// FuzzConvert checks that whatever a feed holds, Convert yields a draft that
// post.Sign accepts, within the limits, with the link kept when valid.
func FuzzConvert(f *testing.F) {
	f.Add("Title &amp; more", "<p>summary</p>", "", "https://ex.org/a", "en", int64(1700000000))
	f.Add("", "", "<div><script>x</script>content\x00\x1b</div>", "http://h/", "pt_BR", int64(-5))
	f.Add(strings.Repeat("wörd ", 300), "", "", strings.Repeat("x", 500), "", int64(0))
	f.Add("\xff\xfe", "&#0;&#xD800;", "<", "https://a b", "zz-", int64(99999999999))
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, title, summary, content, link, lang string, unix int64) {
		it := Item{Title: title, Summary: summary, Content: content, Link: link, Lang: lang, Author: title, Published: time.Unix(unix, 0)}
		d, ok := Convert(it, "https://ex.org/feed", now)
		if !ok {
			return
		}
		if _, err := post.Sign(key, d, now); err != nil {
			t.Fatalf("Sign(Convert(%+v)) = %v; draft %+v", it, err, d)
		}
		if l := cleanLink(link); l != "" && !strings.Contains(d.Text, l) {
			t.Fatalf("link %q lost: %q", l, d.Text)
		}
	})
}
