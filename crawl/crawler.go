package crawl

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/post"
)

// Sink stores crawled drafts: the node signs each with its key and stores
// it. It returns one error per draft (nil when stored), or an error for the
// whole call.
type Sink interface {
	Ingest(ctx context.Context, drafts []post.Draft) ([]error, error)
}

// Errors callers branch on.
var (
	ErrExists    = errors.New("source is already on the list")
	ErrNotFound  = errors.New("no such source; add it with 'murmur crawl add URL'")
	ErrBadURL    = errors.New("a source must be an absolute http or https URL")
	ErrTooMany   = fmt.Errorf("the list holds the most sources allowed (%d); remove one first", MaxSources)
	ErrClosed    = errors.New("the crawler is stopping")
	errNoFeed    = errors.New("the page links no feed (<link rel=\"alternate\" type=\"application/rss+xml\" ...>)")
	errTooDeep   = errors.New("discovery led to another page or actor instead of a feed or outbox")
	errNoOutbox  = errors.New("the ActivityPub object is neither an actor with an outbox nor a collection")
	maxErrorsOut = 10
)

// Source is the state of one source as `murmur crawl list` shows it. It
// is the API's record (api.CrawlSource): one type, so the crawler's state
// and what the crawl routes answer cannot drift apart.
type Source = api.CrawlSource

// Summary is the outcome of one fetch of a source, as POST
// /api/v1/crawl/run answers it (api.CrawlSummary).
type Summary = api.CrawlSummary

// StatusNew is the Status of a source not fetched yet.
const StatusNew = "new"

type entry struct {
	state *sourceState
	lock  chan struct{} // held by whoever fetches the source
	busy  bool          // dispatched by the scheduler
}

// Crawler keeps the source list and fetches it on schedule. Its methods are
// safe for concurrent use.
type Crawler struct {
	cfg        Config
	f          *fetcher
	life       context.Context
	cancelLife context.CancelFunc
	wake       chan struct{}

	mu      sync.Mutex
	entries map[string]*entry
	closed  bool
	manual  sync.WaitGroup

	metrics *crawlerMetrics
}

// Open loads the source list from cfg.Dir. Sources are fetched once Run runs
// (on schedule) or by Fetch (now).
func Open(cfg Config) (*Crawler, error) {
	if cfg.Dir == "" || cfg.Sink == nil {
		return nil, errors.New("crawl: Dir and Sink are required")
	}
	cfg.setDefaults()
	states, err := loadSources(cfg.Dir)
	if err != nil {
		return nil, err
	}
	c := &Crawler{cfg: cfg, f: newFetcher(&cfg), wake: make(chan struct{}, 1), entries: map[string]*entry{}}
	c.metrics = newCrawlerMetrics(metrics.Or(cfg.Metrics), c)
	c.life, c.cancelLife = context.WithCancel(context.Background())
	for u, s := range states {
		c.entries[u] = &entry{state: s, lock: make(chan struct{}, 1)}
	}
	return c, nil
}

// NormalizeURL checks that raw is an absolute http(s) URL and returns it in
// canonical form (lower-case scheme and host, no fragment).
func NormalizeURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("%w: %q", ErrBadURL, raw)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	u.Fragment = ""
	if u.Path == "" {
		u.Path = "/"
	}
	s := u.String()
	if len(s) > post.MaxSourceLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrBadURL, post.MaxSourceLen)
	}
	return s, nil
}

func (c *Crawler) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Add puts a source on the list, due at once.
func (c *Crawler) Add(_ context.Context, raw string) (Source, error) {
	u, err := NormalizeURL(raw)
	if err != nil {
		return Source{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[u]; e != nil {
		return e.view(), fmt.Errorf("%s: %w", u, ErrExists)
	}
	if len(c.entries) >= MaxSources {
		return Source{}, ErrTooMany
	}
	now := c.cfg.Now()
	s := &sourceState{URL: u, Added: now, NextRun: now}
	s.index()
	if err := saveSource(c.cfg.Dir, s); err != nil {
		return Source{}, err
	}
	e := &entry{state: s, lock: make(chan struct{}, 1)}
	c.entries[u] = e
	c.cfg.Logger.Info("crawl source added", "url", u)
	c.poke()
	return e.view(), nil
}

// Remove takes a source off the list and forgets its state. A fetch under
// way finishes, but its state is not kept.
func (c *Crawler) Remove(_ context.Context, raw string) error {
	u, err := NormalizeURL(raw)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[u] == nil {
		return fmt.Errorf("%s: %w", u, ErrNotFound)
	}
	if err := deleteSource(c.cfg.Dir, u); err != nil {
		return err
	}
	delete(c.entries, u)
	c.cfg.Logger.Info("crawl source removed", "url", u)
	return nil
}

func (e *entry) view() Source {
	s := e.state
	st := s.Status
	if st == "" {
		st = StatusNew
	}
	return Source{URL: s.URL, Resolved: s.Resolved, Added: s.Added, LastFetch: s.LastFetch, Status: st, Error: s.Error,
		HTTP: s.HTTP, Failures: s.Failures, ItemsSeen: s.ItemsSeen, LastNew: s.LastNew, NextRun: s.NextRun, Running: len(e.lock) > 0}
}

// Sources lists the sources by URL.
func (c *Crawler) Sources(context.Context) ([]Source, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Source, 0, len(c.entries))
	for _, e := range c.entries {
		out = append(out, e.view())
	}
	slices.SortFunc(out, func(a, b Source) int { return strings.Compare(a.URL, b.URL) })
	return out, nil
}

// Fetch fetches a listed source now, whatever its schedule, and returns what
// it did. A failed fetch is reported in the Summary (Status, Error), not as
// an error; the error is for a source not on the list or a crawler stopping.
// A server's Retry-After is honoured here too: within it, Fetch does not call.
func (c *Crawler) Fetch(ctx context.Context, raw string) (Summary, error) {
	u, err := NormalizeURL(raw)
	if err != nil {
		return Summary{}, err
	}
	c.mu.Lock()
	e := c.entries[u]
	if c.closed {
		c.mu.Unlock()
		return Summary{}, ErrClosed
	}
	if e == nil {
		c.mu.Unlock()
		return Summary{}, fmt.Errorf("%s: %w", u, ErrNotFound)
	}
	c.manual.Add(1)
	c.mu.Unlock()
	defer c.manual.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.life, cancel)
	defer stop()
	return c.fetchSource(ctx, e, true)
}

// Run fetches sources as they fall due until ctx is done, then waits for
// every fetch under way (manual ones too) to stop.
func (c *Crawler) Run(ctx context.Context) error {
	defer c.Close()
	sem := make(chan struct{}, c.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := time.Hour
		c.mu.Lock()
		now := c.cfg.Now()
		for _, e := range c.entries {
			if e.busy {
				continue
			}
			if d := e.state.NextRun.Sub(now); d > 0 {
				wait = min(wait, d)
				continue
			}
			select {
			case sem <- struct{}{}:
			default:
				continue // every slot is taken; a finishing fetch wakes us
			}
			e.busy = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = c.fetchSource(c.life, e, false)
				c.mu.Lock()
				e.busy = false
				c.mu.Unlock()
				<-sem
				c.poke()
			}()
		}
		c.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			c.cancelLife()
			return nil
		case <-timer.C:
		case <-c.wake:
		}
	}
}

// Close stops every fetch under way and waits for manual ones. Run calls it
// on return; call it yourself only if Run never ran.
func (c *Crawler) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancelLife()
	c.manual.Wait()
	c.f.close()
}

// fetchSource fetches one source under its lock, then records the outcome
// and the next run, unless the source was removed meanwhile or the crawler
// is stopping.
func (c *Crawler) fetchSource(ctx context.Context, e *entry, manual bool) (Summary, error) {
	select {
	case e.lock <- struct{}{}:
	case <-ctx.Done():
		return Summary{}, ctx.Err()
	}
	defer func() { <-e.lock }()
	c.mu.Lock()
	st := e.state.clone()
	c.mu.Unlock()
	st.index()

	start := time.Now()
	now := c.cfg.Now()
	sum := Summary{URL: st.URL}
	if retry := st.NextRun; manual && st.Status == StatusRateLimited && retry.After(now) {
		// The server asked us to wait; an operator's run does not override it.
		sum.Status, sum.HTTP, sum.NextRun = StatusRateLimited, st.HTTP, retry
		sum.Error = fmt.Sprintf("not fetched: the server asked for no request before %s", retry.Format(time.RFC3339))
		return sum, nil
	}
	err := c.fetchInto(ctx, st, &sum)
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || err == nil && sum.Status == "") {
		return sum, fmt.Errorf("fetch %s: %w", st.URL, ctx.Err())
	}
	took := time.Since(start)
	sum.TookMS = took.Milliseconds()
	c.record(st, &sum, err, now)
	c.metrics.fetches.WithLabelValues(sum.Status).Inc()
	c.metrics.fetchSeconds.Observe(took.Seconds())
	c.metrics.itemsIngested.Add(float64(sum.New))
	log := c.cfg.Logger.With("url", st.URL, "status", sum.Status, "new", sum.New, "took", took.Round(time.Millisecond), "next", sum.NextRun)
	if err != nil {
		log.Warn("crawl fetch failed", "err", err, "failures", st.Failures)
	} else {
		log.Info("crawl fetch")
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[st.URL] != e {
		return sum, nil // removed meanwhile
	}
	e.state = st
	if serr := saveSource(c.cfg.Dir, st); serr != nil {
		c.cfg.Logger.Error("save crawl state", "url", st.URL, "err", serr)
	}
	c.poke()
	return sum, nil
}

// record sets the source's status and schedules its next run: the interval
// after a success, exponential backoff after failures in a row, and never
// before a Retry-After.
func (c *Crawler) record(st *sourceState, sum *Summary, err error, now time.Time) {
	st.LastFetch = now
	if err == nil {
		if sum.Status == "" {
			sum.Status = StatusOK
		}
		st.Status, st.Error, st.Failures = sum.Status, "", 0
		st.LastNew = sum.New
		st.ItemsSeen += int64(sum.New)
		// Up to a tenth of jitter keeps sources added together from
		// staying in step.
		st.NextRun = now.Add(c.cfg.Interval + rand.N(c.cfg.Interval/10+1))
	} else {
		var fe *FetchError
		status, code, wait := StatusNetworkError, 0, time.Duration(0)
		if errors.As(err, &fe) {
			status, code, wait = fe.Status, fe.HTTP, fe.RetryAfter
		}
		st.Status, st.Error, st.HTTP = status, err.Error(), code
		st.Failures++
		st.LastNew = sum.New
		st.ItemsSeen += int64(sum.New)
		backoff := c.cfg.BackoffBase << min(st.Failures-1, 30)
		if backoff <= 0 || backoff > c.cfg.MaxBackoff {
			backoff = c.cfg.MaxBackoff
		}
		st.NextRun = now.Add(min(max(backoff, wait), c.cfg.MaxBackoff))
		sum.Status, sum.Error, sum.HTTP = status, err.Error(), code
	}
	if err == nil {
		st.HTTP = sum.HTTP
	}
	sum.NextRun = st.NextRun
}

// fetchInto fetches the source's document (at its resolved address if
// known), follows discovery (HTML page to feed, actor to outbox, outbox to
// its pages), and stores the new items.
func (c *Crawler) fetchInto(ctx context.Context, st *sourceState, sum *Summary) error {
	target := st.Resolved
	if target == "" {
		target = st.URL
	}
	u, _ := url.Parse(target)
	unlock, err := c.f.lockHost(ctx, u.Host)
	if err != nil {
		return err
	}
	defer unlock()
	res, err := c.f.fetch(ctx, target, st.ETag, st.LastModified, acceptFeeds)
	if err != nil {
		var fe *FetchError
		if st.Resolved != "" && errors.As(err, &fe) && (fe.HTTP == http.StatusNotFound || fe.HTTP == http.StatusGone) {
			// The feed moved: look for it again from the source next time.
			st.Resolved, st.ETag, st.LastModified = "", "", ""
		}
		return err
	}
	sum.Fetched, sum.HTTP = target, res.code
	if res.code == http.StatusNotModified {
		sum.Status = StatusNotModified
		return nil
	}
	items, err := c.items(ctx, st, res, sum)
	if err != nil {
		return err
	}
	sum.Items = len(items)
	return c.ingest(ctx, st, items, sum)
}

// items reads the items of a fetched document, following at most one
// discovery step (page to feed, actor to outbox).
func (c *Crawler) items(ctx context.Context, st *sourceState, res *response, sum *Summary) ([]Item, error) {
	st.ETag, st.LastModified = res.etag, res.lastModified
	for hop := 0; ; hop++ {
		kind := sniff(res.contentType, res.body)
		var o *asObject
		if kind == kindActivity {
			var err error
			if o, err = parseActivity(res.body); err != nil {
				return nil, &FetchError{Status: StatusParseError, HTTP: res.code, Err: fmt.Errorf("%s: %w", res.url, err)}
			}
		}
		switch {
		case kind == kindActivity && o.hasType("OrderedCollection", "Collection", "OrderedCollectionPage", "CollectionPage"):
			return c.outbox(ctx, o)
		case kind == kindFeed:
			items, _, err := parseFeed(res.body)
			if err != nil {
				return nil, &FetchError{Status: StatusParseError, HTTP: res.code, Err: fmt.Errorf("%s: %w", res.url, err)}
			}
			return items, nil
		case hop > 0:
			return nil, &FetchError{Status: StatusParseError, HTTP: res.code, Err: fmt.Errorf("%s: %w", res.url, errTooDeep)}
		case kind == kindHTML:
			links := discover(res.body, res.url)
			if len(links) == 0 {
				return nil, &FetchError{Status: StatusParseError, HTTP: res.code, Err: fmt.Errorf("%s: %w", res.url, errNoFeed)}
			}
			next, err := c.f.fetch(ctx, links[0], "", "", acceptFeeds)
			if err != nil {
				return nil, err
			}
			st.Resolved, st.ETag, st.LastModified = links[0], next.etag, next.lastModified
			sum.Fetched, res = links[0], next
		case kind == kindActivity:
			outbox, _ := ref(o.Outbox)
			if outbox == "" {
				return nil, &FetchError{Status: StatusParseError, HTTP: res.code, Err: fmt.Errorf("%s: %w", res.url, errNoOutbox)}
			}
			base, _ := url.Parse(res.url)
			ob, err := base.Parse(outbox)
			if err != nil {
				return nil, &FetchError{Status: StatusParseError, HTTP: res.code, Err: fmt.Errorf("%s: outbox %q: %w", res.url, outbox, err)}
			}
			next, err := c.f.fetch(ctx, ob.String(), "", "", acceptActivity)
			if err != nil {
				return nil, err
			}
			st.Resolved, st.ETag, st.LastModified = ob.String(), next.etag, next.lastModified
			sum.Fetched, res = ob.String(), next
			if sniff(res.contentType, res.body) != kindActivity {
				res.contentType = "application/activity+json"
			}
		}
	}
}

// outbox reads an ActivityPub collection: its own items, else its first
// page and the pages after it, up to MaxOutboxPages.
func (c *Crawler) outbox(ctx context.Context, o *asObject) ([]Item, error) {
	items := collectionItems(o, "")
	if len(o.OrderedItems) > 0 || len(o.Items) > 0 {
		return items, nil
	}
	pageURL, page := ref(o.First)
	for n := 0; n < MaxOutboxPages && len(items) < MaxItemsPerFetch; n++ {
		if page == nil || (len(page.OrderedItems) == 0 && len(page.Items) == 0 && page.ID == pageURL) {
			if pageURL == "" {
				break
			}
			res, err := c.f.fetch(ctx, pageURL, "", "", acceptActivity)
			if err != nil {
				if n > 0 {
					break // keep the pages read so far
				}
				return nil, err
			}
			if page, err = parseActivity(res.body); err != nil {
				return nil, &FetchError{Status: StatusParseError, HTTP: res.code, Err: fmt.Errorf("%s: %w", pageURL, err)}
			}
		}
		got := collectionItems(page, "")
		if len(got) == 0 && len(page.OrderedItems) == 0 && len(page.Items) == 0 {
			break
		}
		items = append(items, got...)
		next, nextPage := ref(page.Next)
		if next == "" || next == pageURL {
			break
		}
		pageURL, page = next, nextPage
	}
	if len(items) > MaxItemsPerFetch {
		items = items[:MaxItemsPerFetch]
	}
	return items, nil
}

// ingest converts the items not seen before and hands them to the sink.
// Stored and refused items alike are remembered, so neither is sent again.
func (c *Crawler) ingest(ctx context.Context, st *sourceState, items []Item, sum *Summary) error {
	now := c.cfg.Now()
	var drafts []post.Draft
	var keys []string
	batch := map[string]bool{}
	for _, it := range items {
		k := seenKey(it.Key())
		if st.hasSeen(k) || batch[k] {
			sum.Duplicates++
			continue
		}
		batch[k] = true
		d, ok := Convert(it, st.URL, now)
		if !ok {
			sum.Rejected++
			st.markSeen(k)
			continue
		}
		drafts = append(drafts, d)
		keys = append(keys, k)
	}
	if len(drafts) == 0 {
		return nil
	}
	errs, err := c.cfg.Sink.Ingest(ctx, drafts)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &FetchError{Status: StatusStoreError, Err: fmt.Errorf("store %d posts: %w", len(drafts), err)}
	}
	for i, k := range keys {
		st.markSeen(k)
		if i < len(errs) && errs[i] != nil {
			sum.Rejected++
			if len(sum.Errors) < maxErrorsOut {
				sum.Errors = append(sum.Errors, errs[i].Error())
			}
			continue
		}
		sum.New++
	}
	return nil
}
