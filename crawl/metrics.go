package crawl

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/metrics"
)

// crawlerMetrics are the crawler's collectors: fetches by outcome, items
// ingested, fetch time, and per source (a bounded list) what the crawl list
// says of it, read at scrape time.
type crawlerMetrics struct {
	fetches       *prometheus.CounterVec
	itemsIngested prometheus.Counter
	fetchSeconds  prometheus.Histogram
	c             *Crawler
}

// newCrawlerMetrics registers the crawler's collectors on reg:
// murmur_crawl_fetches_total{status} (each status at zero from the start),
// murmur_crawl_items_ingested_total, murmur_crawl_fetch_duration_seconds,
// murmur_crawl_sources{status} and, per source, murmur_crawl_source_*
// series labelled by url.
func newCrawlerMetrics(reg prometheus.Registerer, c *Crawler) *crawlerMetrics {
	m := &crawlerMetrics{
		fetches:       metrics.CounterVec(reg, metrics.CrawlFetches, "Source fetches by outcome.", "status", Statuses...),
		itemsIngested: metrics.Counter(reg, metrics.CrawlItemsIngested, "Crawled items stored as new posts."),
		fetchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: metrics.CrawlFetchSeconds, Help: "Duration of one source fetch, parsing and storing included.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}),
		c: c,
	}
	reg.MustRegister(m.fetchSeconds, m)
	return m
}

var (
	crawlSourcesDesc = prometheus.NewDesc(metrics.CrawlSources, "Crawl sources by the outcome of their last fetch.", []string{"status"}, nil)
	crawlLastDesc    = prometheus.NewDesc("murmur_crawl_source_last_fetch_timestamp_seconds", "Unix time of a source's last fetch (0: never).", []string{"url"}, nil)
	crawlNextDesc    = prometheus.NewDesc("murmur_crawl_source_next_run_timestamp_seconds", "Unix time of a source's next scheduled fetch.", []string{"url"}, nil)
	crawlItemsDesc   = prometheus.NewDesc("murmur_crawl_source_items_seen", "Items of a source stored as posts, over its life.", []string{"url"}, nil)
	crawlFailDesc    = prometheus.NewDesc("murmur_crawl_source_failures", "Failed fetches of a source in a row.", []string{"url"}, nil)
)

// Describe implements prometheus.Collector for the per-source series.
func (m *crawlerMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{crawlSourcesDesc, crawlLastDesc, crawlNextDesc, crawlItemsDesc, crawlFailDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector for the per-source series.
func (m *crawlerMetrics) Collect(ch chan<- prometheus.Metric) {
	list, _ := m.c.Sources(context.Background())
	byStatus := map[string]int{}
	for _, s := range list {
		byStatus[s.Status]++
		var last float64
		if !s.LastFetch.IsZero() {
			last = float64(s.LastFetch.Unix())
		}
		ch <- prometheus.MustNewConstMetric(crawlLastDesc, prometheus.GaugeValue, last, s.URL)
		ch <- prometheus.MustNewConstMetric(crawlNextDesc, prometheus.GaugeValue, float64(s.NextRun.Unix()), s.URL)
		ch <- prometheus.MustNewConstMetric(crawlItemsDesc, prometheus.GaugeValue, float64(s.ItemsSeen), s.URL)
		ch <- prometheus.MustNewConstMetric(crawlFailDesc, prometheus.GaugeValue, float64(s.Failures), s.URL)
	}
	for status, n := range byStatus {
		ch <- prometheus.MustNewConstMetric(crawlSourcesDesc, prometheus.GaugeValue, float64(n), status)
	}
}
