package node

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/murmur-p2p/murmur/api/server"
	"github.com/murmur-p2p/murmur/crawl"
	"github.com/murmur-p2p/murmur/post"
)

// crawlSink is the node as the crawler's Sink: it signs each draft with the
// node's key and stores it through accept, like every other post.
type crawlSink struct{ n *Node }

func (s crawlSink) Ingest(ctx context.Context, drafts []post.Draft) ([]error, error) {
	n := s.n
	errs := make([]error, len(drafts))
	posts := make([]*post.Post, 0, len(drafts))
	at := make([]int, 0, len(drafts)) // index in drafts of each post
	now := n.cfg.Now()
	for i, d := range drafts {
		p, err := n.sign(ctx, d, now)
		if err != nil {
			errs[i] = err
			n.metrics.postsRejected.WithLabelValues(reason(err)).Inc()
			continue
		}
		posts = append(posts, p)
		at = append(at, i)
	}
	if len(posts) == 0 {
		return errs, nil
	}
	res, err := n.accept(ctx, posts...)
	if err != nil {
		return nil, fmt.Errorf("store crawled posts: %w", err)
	}
	stored := 0
	for j, e := range res {
		if e != nil {
			errs[at[j]] = e
			n.metrics.postsRejected.WithLabelValues(reason(e)).Inc()
			continue
		}
		stored++
	}
	n.metrics.postsAccepted.WithLabelValues("crawl").Add(float64(stored))
	return errs, nil
}

// openCrawl opens the crawler when the node crawls (Config.Crawl), with its
// state in DATA/crawl, and adds the crawl API routes to mux either way: a
// node that does not crawl answers them with how to turn crawling on.
func (n *Node) openCrawl(mux *http.ServeMux) error {
	var backend server.CrawlBackend
	if n.cfg.Crawl {
		n.metrics.postsAccepted.WithLabelValues("crawl")
		c, err := crawl.Open(crawl.Config{
			Dir:          filepath.Join(n.cfg.DataDir, "crawl"),
			Sink:         crawlSink{n},
			AllowPrivate: n.cfg.CrawlAllowPrivate,
			Metrics:      n.registry,
			Logger:       n.log.With("part", "crawl"),
			Now:          n.cfg.Now,
		})
		if err != nil {
			return fmt.Errorf("open crawler: %w", err)
		}
		n.crawler, backend = c, c
	}
	mux.Handle(server.CrawlPrefix, server.NewCrawlHandler(backend, n.apiMetrics, n.log))
	return nil
}

// runCrawl starts the crawler's scheduler, if the node crawls; stop cancels
// every fetch and waits for the crawler to finish, so no post arrives after.
func (n *Node) runCrawl(ctx context.Context) (stop func()) {
	if n.crawler == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.crawler.Run(ctx); err != nil {
			n.log.Error("crawler stopped", "err", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
