package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/peer"
	madns "github.com/multiformats/go-multiaddr-dns"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/p2p"
)

// contact is how a node finds its network: the peers it joins through
// (those given, those it remembers, the network's compiled-in list), the
// recording of the peers it meets for its next start, and the watch that
// says when it has none.
type contact struct {
	log     *slog.Logger
	network string
	dataDir string
	// given are the --bootstrap addresses, file the --bootstrap-file;
	// defaults the network's defaultBootstrap, used when neither is set.
	given    bootAddrs
	file     string
	defaults bootAddrs
	resolver *madns.Resolver
	book     *peerBook
	after    time.Duration // NetworkConfig.AloneAfter with its default
	started  time.Time
	lone     *loneWatch // nil until start, and with AloneAfter negative

	// ctx bounds the DNS lookups of the bootstrap func and the goroutines
	// start starts; stop cancels it and waits for them.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newContact reads what a node joins through. Remembered peers that cannot
// be read are logged and left out: they are a cache.
func newContact(nc NetworkConfig, dataDir string, self peer.ID, started time.Time, log *slog.Logger) (*contact, error) {
	network := nc.Name
	if network == "" {
		network = p2p.DefaultNetwork
	}
	given, err := parseBootstrap(nc.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("--bootstrap: %w", err)
	}
	c := &contact{log: log, network: network, dataDir: dataDir, given: given, file: nc.BootstrapFile,
		resolver: madns.DefaultResolver, after: nc.AloneAfter, started: started}
	if c.after == 0 {
		c.after = defaultAloneAfter
	}
	if !c.mustJoin() {
		if c.defaults, err = parseBootstrap(defaultBootstrap[network]); err != nil {
			return nil, fmt.Errorf("the default bootstrap list of network %q: %w", network, err)
		}
	}
	c.book, err = loadPeerBook(dataDir, network, self)
	if err != nil {
		log.Warn("remembered peers not used", "err", err)
	} else if n := c.book.size(); n > 0 {
		log.Info("joining through remembered peers too", "remembered", n, "file", c.book.path)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// mustJoin reports whether the node was told where to join (--bootstrap,
// --bootstrap-file), and so is ready only once it has: the peers it
// remembers and the default list may all be gone.
func (c *contact) mustJoin() bool { return !c.given.empty() || c.file != "" }

// bootstrapFunc is p2p.Config.Bootstrap: nil, a node that starts alone,
// when it has nothing to join through.
func (c *contact) bootstrapFunc() func() []peer.AddrInfo {
	if !c.mustJoin() && c.defaults.empty() && c.book.size() == 0 {
		return nil
	}
	return c.bootstrap
}

// bootstrap returns the peers to join through at one attempt: the given
// ones (names resolved now), a few remembered ones in turn, and without
// any given the network's default list.
func (c *contact) bootstrap() []peer.AddrInfo {
	out, err := c.given.resolve(c.ctx, c.resolver)
	if err != nil {
		c.log.Warn("bootstrap name not resolved", "err", err)
	}
	if c.file != "" {
		fromFile, err := readAddrsFile(c.file)
		if err != nil {
			c.log.Warn("bootstrap file not usable yet", "file", c.file, "err", err)
		}
		out = append(out, fromFile...)
	}
	out = append(out, c.book.nextTry(rememberedPerTry)...)
	if !c.mustJoin() {
		defaults, err := c.defaults.resolve(c.ctx, c.resolver)
		if err != nil {
			c.log.Warn("default bootstrap name not resolved", "err", err)
		}
		out = append(out, defaults...)
	}
	return out
}

// start records the peers svc meets and watches for the node being alone,
// until stop.
func (c *contact) start(svc *p2p.Service) error {
	h := svc.Host()
	sub, err := h.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return fmt.Errorf("subscribe to identified peers: %w", err)
	}
	rec := newPeerRecorder(c.book, h, c.network, c.log)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		rec.run(c.ctx, sub)
	}()
	if c.after > 0 {
		c.lone = newLoneWatch(c.after, h, c.network, c.dataDir, c.started, c.log)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.lone.run(c.ctx)
		}()
	}
	return nil
}

// stop stops what start started; the peers met are written first.
func (c *contact) stop() {
	c.cancel()
	c.wg.Wait()
}

// status fills the status's Alone and AloneHint.
func (c *contact) status(s *api.Status) {
	if c.lone != nil {
		c.lone.status(s)
	}
}
