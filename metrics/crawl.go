package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Crawl is the set of crawler collectors of one node.
type Crawl struct {
	// Fetches counts source fetches by outcome (crawl's Status constants).
	Fetches *prometheus.CounterVec
	// ItemsIngested counts feed items stored as new posts.
	ItemsIngested prometheus.Counter
	// FetchSeconds is the duration of one source fetch, parsing and storing
	// included.
	FetchSeconds prometheus.Histogram

	sources func() []CrawlSource
}

// CrawlSource is what the metrics show of one source.
type CrawlSource struct {
	URL       string
	Status    string // last outcome, "new" before the first fetch
	LastFetch float64
	NextRun   float64 // Unix seconds
	ItemsSeen float64
	Failures  float64 // in a row
}

// NewCrawl registers the crawler's collectors on reg (a Node's Registry):
// murmur_crawl_fetches_total{status} (each of statuses at zero from the
// start), murmur_crawl_items_ingested_total, murmur_crawl_fetch_duration_seconds,
// murmur_crawl_sources{status} and, per source, murmur_crawl_source_*
// series labelled by url (the source list is bounded). sources, read at
// scrape time, lists the sources.
func NewCrawl(reg prometheus.Registerer, statuses []string, sources func() []CrawlSource) *Crawl {
	c := &Crawl{
		Fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murmur_crawl_fetches_total", Help: "Source fetches by outcome.",
		}, []string{"status"}),
		ItemsIngested: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "murmur_crawl_items_ingested_total", Help: "Crawled items stored as new posts.",
		}),
		FetchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "murmur_crawl_fetch_duration_seconds", Help: "Duration of one source fetch, parsing and storing included.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}),
		sources: sources,
	}
	for _, s := range statuses {
		c.Fetches.WithLabelValues(s)
	}
	reg.MustRegister(c.Fetches, c.ItemsIngested, c.FetchSeconds, c)
	return c
}

var (
	crawlSourcesDesc = prometheus.NewDesc("murmur_crawl_sources", "Crawl sources by the outcome of their last fetch.", []string{"status"}, nil)
	crawlLastDesc    = prometheus.NewDesc("murmur_crawl_source_last_fetch_timestamp_seconds", "Unix time of a source's last fetch (0: never).", []string{"url"}, nil)
	crawlNextDesc    = prometheus.NewDesc("murmur_crawl_source_next_run_timestamp_seconds", "Unix time of a source's next scheduled fetch.", []string{"url"}, nil)
	crawlItemsDesc   = prometheus.NewDesc("murmur_crawl_source_items_seen", "Items of a source stored as posts, over its life.", []string{"url"}, nil)
	crawlFailDesc    = prometheus.NewDesc("murmur_crawl_source_failures", "Failed fetches of a source in a row.", []string{"url"}, nil)
)

// Describe implements prometheus.Collector for the per-source series.
func (c *Crawl) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{crawlSourcesDesc, crawlLastDesc, crawlNextDesc, crawlItemsDesc, crawlFailDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector for the per-source series.
func (c *Crawl) Collect(ch chan<- prometheus.Metric) {
	if c.sources == nil {
		return
	}
	byStatus := map[string]int{}
	for _, s := range c.sources() {
		byStatus[s.Status]++
		ch <- prometheus.MustNewConstMetric(crawlLastDesc, prometheus.GaugeValue, s.LastFetch, s.URL)
		ch <- prometheus.MustNewConstMetric(crawlNextDesc, prometheus.GaugeValue, s.NextRun, s.URL)
		ch <- prometheus.MustNewConstMetric(crawlItemsDesc, prometheus.GaugeValue, s.ItemsSeen, s.URL)
		ch <- prometheus.MustNewConstMetric(crawlFailDesc, prometheus.GaugeValue, s.Failures, s.URL)
	}
	for status, n := range byStatus {
		ch <- prometheus.MustNewConstMetric(crawlSourcesDesc, prometheus.GaugeValue, float64(n), status)
	}
}
