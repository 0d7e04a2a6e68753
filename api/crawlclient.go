package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// CrawlSources lists the node's crawl sources.
func (c *Client) CrawlSources(ctx context.Context) ([]CrawlSource, error) {
	var r CrawlSources
	if err := c.do(ctx, http.MethodGet, "/api/v1/crawl/sources", nil, &r); err != nil {
		return nil, err
	}
	return r.Sources, nil
}

// CrawlAdd adds a source to the node's crawl list.
func (c *Client) CrawlAdd(ctx context.Context, u string) (CrawlSource, error) {
	body, _ := json.Marshal(CrawlRequest{URL: u})
	var s CrawlSource
	err := c.do(ctx, http.MethodPost, "/api/v1/crawl/sources", bytes.NewReader(body), &s)
	return s, err
}

// CrawlRemove removes a source from the node's crawl list.
func (c *Client) CrawlRemove(ctx context.Context, u string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/crawl/sources?"+url.Values{"url": {u}}.Encode(), nil, nil)
}

// CrawlRun has the node fetch a listed source now and returns the summary.
func (c *Client) CrawlRun(ctx context.Context, u string) (CrawlSummary, error) {
	body, _ := json.Marshal(CrawlRequest{URL: u})
	var s CrawlSummary
	err := c.do(ctx, http.MethodPost, "/api/v1/crawl/run", bytes.NewReader(body), &s)
	return s, err
}
