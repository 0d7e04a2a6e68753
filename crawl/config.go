package crawl

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config. They are the crawler's politeness and safety bounds.
const (
	// DefaultInterval is how often a healthy source is fetched.
	DefaultInterval = 30 * time.Minute
	// DefaultMaxBody bounds one response body; a larger one is an error.
	DefaultMaxBody = 8 << 20
	// DefaultMaxRedirects bounds the redirects followed by one request.
	DefaultMaxRedirects = 5
	// DefaultDialTimeout bounds connecting (and the TLS handshake).
	DefaultDialTimeout = 10 * time.Second
	// DefaultHeaderTimeout bounds the wait for a response's headers.
	DefaultHeaderTimeout = 20 * time.Second
	// DefaultFetchTimeout bounds one whole request, body included.
	DefaultFetchTimeout = 60 * time.Second
	// DefaultHostInterval is the least time between two requests to one host
	// (robots.txt included), after a burst of DefaultHostBurst.
	DefaultHostInterval = 2 * time.Second
	// DefaultHostBurst is how many requests a host may get at once.
	DefaultHostBurst = 3
	// DefaultConcurrency is how many sources are fetched at once; each host
	// gets at most one fetch at a time.
	DefaultConcurrency = 4
	// DefaultBackoffBase is the wait after the first failure in a row; each
	// further failure doubles it, up to DefaultMaxBackoff.
	DefaultBackoffBase = time.Minute
	// DefaultMaxBackoff caps the backoff and any Retry-After a server asks for.
	DefaultMaxBackoff = 24 * time.Hour
	// MaxSources bounds the source list.
	MaxSources = 1000
	// MaxSeen bounds the remembered item keys per source; the oldest are
	// forgotten first. It is well above any feed's length, so an item is
	// forgotten only long after it has left its feed.
	MaxSeen = 4096
	// MaxItemsPerFetch bounds the items taken from one fetch.
	MaxItemsPerFetch = 1000
	// MaxOutboxPages bounds the pages of an ActivityPub outbox followed.
	MaxOutboxPages = 5
	// RobotsTTL is how long a host's robots.txt is trusted.
	RobotsTTL = time.Hour
	// MaxRobotsBody bounds a robots.txt (Google reads 500 KiB).
	MaxRobotsBody = 512 << 10
	// RobotsAgent is the product token matched against robots.txt groups.
	RobotsAgent = "murmur"
)

// UserAgent names murmur and says why it calls, as polite crawlers do.
const UserAgent = "murmur/1 (feed crawler; +https://github.com/murmur-p2p/murmur)"

// Config configures a Crawler. Zero values are the defaults above.
type Config struct {
	// Dir holds the source list and each source's seen items; required.
	Dir string
	// Sink stores the drafts a fetch yields; required.
	Sink Sink
	// AllowPrivate lets fetches reach loopback, private, link-local and other
	// non-public addresses. Off, such a dial is refused, whatever name or
	// redirect led to it.
	AllowPrivate bool
	// Interval, MaxBody, MaxRedirects, DialTimeout, HeaderTimeout,
	// FetchTimeout, HostInterval, HostBurst, Concurrency, BackoffBase and
	// MaxBackoff override the defaults of the same names.
	Interval      time.Duration
	MaxBody       int64
	MaxRedirects  int
	DialTimeout   time.Duration
	HeaderTimeout time.Duration
	FetchTimeout  time.Duration
	HostInterval  time.Duration
	HostBurst     int
	Concurrency   int
	BackoffBase   time.Duration
	MaxBackoff    time.Duration
	// Metrics, if set, receives the crawler's collectors (the node's
	// registry).
	Metrics prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time

	// exempt lists addresses ("ip:port") dialed even when private: the
	// guard's own test serves its first hop from 127.0.0.1.
	exempt map[string]bool
}

func (c *Config) setDefaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Interval, DefaultInterval)
	def(&c.DialTimeout, DefaultDialTimeout)
	def(&c.HeaderTimeout, DefaultHeaderTimeout)
	def(&c.FetchTimeout, DefaultFetchTimeout)
	def(&c.HostInterval, DefaultHostInterval)
	def(&c.BackoffBase, DefaultBackoffBase)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.MaxRedirects <= 0 {
		c.MaxRedirects = DefaultMaxRedirects
	}
	if c.HostBurst <= 0 {
		c.HostBurst = DefaultHostBurst
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}
