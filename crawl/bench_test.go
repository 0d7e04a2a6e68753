package crawl

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/murmur-p2p/murmur/crawl/crawltest"
)

// BenchmarkConvert converts real fortunes wrapped in HTML, as feeds carry them.
func BenchmarkConvert(b *testing.B) {
	es := crawltest.Fortunes(b, "en", 0, 100)
	items := make([]Item, len(es))
	for i, e := range es {
		items[i] = Item{Title: e.Title, Summary: "<p>" + e.Text + "</p>", Link: e.Link, Lang: "en", Published: e.Published}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		Convert(items[i%len(items)], "https://ex.org/feed", es[0].Published)
	}
}

// BenchmarkFetchFeed fetches, parses and de-duplicates a 1,000-item RSS
// feed served by a local server, storing into a signing in-memory sink: the
// first fetch of each iteration stores every item.
func BenchmarkFetchFeed(b *testing.B) {
	es := crawltest.Fortunes(b, "en", 0, 1000)
	srv := crawltest.NewServer(b)
	srv.Set("/feed", crawltest.Doc{ContentType: "application/rss+xml", Body: crawltest.RSS("bench", "en", es)})
	items := 0
	for i := 0; b.Loop(); i++ {
		sink := newSink(b)
		cfg := Config{Dir: b.TempDir(), Sink: sink, AllowPrivate: true, HostInterval: 1, HostBurst: 1000, Logger: slog.New(slog.DiscardHandler)}
		c, err := Open(cfg)
		if err != nil {
			b.Fatal(err)
		}
		u := fmt.Sprintf("%s/feed?%d", srv.URL, i)
		if _, err := c.Add(context.Background(), u); err != nil {
			b.Fatal(err)
		}
		sum, err := c.Fetch(context.Background(), u)
		if err != nil || sum.New != len(es) {
			b.Fatalf("%+v %v", sum, err)
		}
		items += sum.New
		c.Close()
	}
	b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
}
