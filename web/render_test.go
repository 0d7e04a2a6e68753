package web

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/query"
)

func TestRenderText(t *testing.T) {
	for _, tc := range []struct {
		name  string
		text  string
		spans []query.Span
		want  string
	}{
		{"plain", "hello world", nil, "hello world"},
		{"escaped", `<b>"x" & 'y'</b>`, nil, `&lt;b&gt;&#34;x&#34; &amp; &#39;y&#39;&lt;/b&gt;`},
		{"marked", "cats and dogs", []query.Span{{Start: 0, End: 4}, {Start: 9, End: 13}}, "<mark>cats</mark> and <mark>dogs</mark>"},
		{"overlapping spans merge", "catsanddogs", []query.Span{{Start: 0, End: 5}, {Start: 3, End: 7}}, "<mark>catsand</mark>dogs"},
		{"out of range ignored", "cats", []query.Span{{Start: 2, End: 99}, {Start: -1, End: 2}, {Start: 3, End: 3}}, "cats"},
		{"span cutting a character ignored", "héllo", []query.Span{{Start: 0, End: 2}}, "héllo"},
		{"multibyte marked", "Größe zählt", []query.Span{{Start: 0, End: 7}}, "<mark>Größe</mark> zählt"},
		{"hashtag", "see #murmur now", nil, `see <a href="/?q=%23murmur">#murmur</a> now`},
		{"hashtag marked", "#murmur", []query.Span{{Start: 1, End: 7}}, `<a href="/?q=%23murmur">#<mark>murmur</mark></a>`},
		{"mention with host", "hi @ann@example.org!", nil, `hi <a href="/?q=%40ann%40example.org">@ann@example.org</a>!`},
		{"mid-word # and e-mail stay text", "a#b ann@example.org", nil, "a#b ann@example.org"},
		{"url", "read https://example.org/a?b=1&c=2.", nil,
			`read <a href="https://example.org/a?b=1&amp;c=2" rel="nofollow noopener noreferrer" class="ext">https://example.org/a?b=1&amp;c=2</a>.`},
		{"url in parentheses", "(https://example.org/x)", nil,
			`(<a href="https://example.org/x" rel="nofollow noopener noreferrer" class="ext">https://example.org/x</a>)`},
		{"url with quote cannot break out", `https://e.org/"onclick=x`, nil,
			`<a href="https://e.org/" rel="nofollow noopener noreferrer" class="ext">https://e.org/</a>&#34;onclick=x`},
		{"javascript scheme is text", "javascript:alert(1)", nil, "javascript:alert(1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(renderText(tc.text, tc.spans)); got != tc.want {
				t.Errorf("renderText(%q, %v)\n got %s\nwant %s", tc.text, tc.spans, got, tc.want)
			}
		})
	}
}

// TestSampler checks the rates the node page charts and that the ring stays
// bounded.
func TestSampler(t *testing.T) {
	reg := prometheus.NewRegistry()
	accepted := prometheus.NewCounter(prometheus.CounterOpts{Name: metricAccepted, Help: "h"})
	reg.MustRegister(accepted)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSampler(reg, func() time.Time { return now })

	s.sample()
	now = now.Add(time.Second)
	accepted.Add(100)
	s.sample() // too soon: skipped
	if got := len(s.samples()); got != 1 {
		t.Fatalf("%d samples after a sample within %s, want 1", got, SampleEvery)
	}
	now = now.Add(9 * time.Second)
	s.sample()
	a := s.activity()
	if a.Charts[0].ID != "ingest" || a.Charts[0].Now != "10" {
		t.Errorf("ingest chart %+v, want 10 posts/s (100 posts in 10 s)", a.Charts[0])
	}
	for range 3 * MaxSamples {
		now = now.Add(SampleEvery)
		accepted.Add(5)
		s.sample()
	}
	ss := s.samples()
	if len(ss) != MaxSamples {
		t.Fatalf("%d samples, want the ring's %d", len(ss), MaxSamples)
	}
	for i := 1; i < len(ss); i++ {
		if !ss[i].at.After(ss[i-1].at) {
			t.Fatalf("samples out of order at %d", i)
		}
	}
	if got := s.activity().Charts[0]; got.Now != "1" || got.Empty {
		t.Errorf("ingest chart %+v, want 1 post/s", got)
	}
}
