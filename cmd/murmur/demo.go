package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/node"
)

// The demo network: small, on loopback, cheap to join.
const (
	// demoNetwork is the demo's network name: its nodes never mix with a
	// network of another name, and mDNS is off, so not with other demos'.
	demoNetwork = "demo"
	// demoIDDifficulty and demoPostDifficulty are the demo network's
	// identity puzzle and proof of work: a few bits, so that keys and posts
	// take microseconds, yet the checks run as on a real network.
	demoIDDifficulty   = 8
	demoPostDifficulty = 8
	// demoMaxNodes bounds --nodes: every node is a libp2p host, an index and
	// an API in this one process.
	demoMaxNodes = 16
	// demoMaxText is the longest sample text taken, in characters: a
	// microblog's posts are short.
	demoMaxText = 280
	// demoImportChunk is how many posts one import call takes, so that
	// progress shows as they are stored.
	demoImportChunk = 25
	// demoPostSpacing is the time between the sample posts' created_at,
	// newest first, so that sort=latest and since:/until: have dates to
	// work on. A post's time depends on its place only, so a rerun on the
	// same --data makes the same posts, which the nodes skip.
	demoPostSpacing = 3 * time.Hour
	// demoJoinTimeout bounds the wait for a node to join and for the
	// routing tables to hold every node.
	demoJoinTimeout = 30 * time.Second
	// demoEpochFile, in the data directory, holds the time of the first
	// run, from which the sample posts' times count back.
	demoEpochFile = "demo-epoch"
)

// fortuneDir is where Debian's fortune packages put their files.
var fortuneDir = "/usr/share/games/fortunes"

// fortuneFiles are the English files of Debian's fortunes-min and fortunes
// packages, the ones made of short texts: the files of other languages'
// packages (fortunes-de, -it, -zh, ...) would not answer the English search
// the demo suggests, and art and ascii-art are pictures.
var fortuneFiles = []string{
	"fortunes", "wisdom", "science", "computers", "literature", "people",
	"humorists", "platitudes", "work", "education", "food", "pets", "love",
	"linux", "debian", "cookie", "miscellaneous", "politics", "law",
	"medicine", "sports", "magic", "paradoxum", "goedel", "riddles", "kids",
	"pratchett", "startrek", "songs-poems", "drugs", "ethnic", "definitions",
	"zippy", "men-women", "news", "linuxcookie", "knghtbrd", "perl",
}

// demoPostsText is the sample the demo falls back to when no fortune file
// is installed: proverbs and public-domain sayings, in the fortune format.
//
//go:embed demo_posts.txt
var demoPostsText string

// demoSearchWords are the words the demo may suggest searching for; it
// suggests the one most of its sample posts hold.
var demoSearchWords = []string{"time", "love", "life", "world", "man", "truth", "work", "people", "computer", "wise", "money", "friend"}

func newDemoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a small local network with sample posts, to try searching (Ctrl-C stops it)",
		Long: `Run a small murmur network on this machine, in this one process: --nodes nodes
on 127.0.0.1 joined through the first, which serves the API and the web page
on --api. The nodes import --posts sample posts between them (Debian's fortune
files when installed, else proverbs shipped with murmur), then the demo prints
the web page's address and a search to try, and runs until Ctrl-C.

The network is called "demo"; its identity puzzle and proof of work are a few
bits, so it starts in seconds. Its data goes to a temporary directory, removed
at exit, unless --data names one to keep.`,
		Example: `  murmur demo
  murmur demo --nodes 6 --posts 1000
  murmur demo --api 127.0.0.1:8080 --data ./demo-data`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	nodes := fs.Int("nodes", 4, fmt.Sprintf("`N` nodes to run, 1..%d", demoMaxNodes))
	posts := fs.Int("posts", 300, "`N` sample posts to import, spread over the nodes")
	addr := fs.String("api", node.DefaultAPIAddr, "`HOST:PORT` of the first node's API and web page")
	data := fs.String("data", "", "data `DIR` of the nodes, kept for the next run (default: a temporary directory, removed at exit)")
	// Warnings of a demo are mostly the peers of an earlier run on the
	// same --data, gone: not what a newcomer should read first.
	level := fs.String("log-level", "error", "log level of the nodes: debug, info, warn, error")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *nodes < 1 || *nodes > demoMaxNodes {
			return usageErrorf("--nodes %d is outside 1..%d", *nodes, demoMaxNodes)
		}
		if *posts < 0 {
			return usageErrorf("--posts %d is negative", *posts)
		}
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(*level)); err != nil {
			return usageErrorf("--log-level: %w", err)
		}
		return runDemo(cmd.Context(), demoConfig{nodes: *nodes, posts: *posts, api: *addr, data: *data, level: lvl}, cmd.ErrOrStderr())
	}
	return cmd
}

// demoConfig is what the command line asks of the demo.
type demoConfig struct {
	nodes, posts int
	api          string
	// data is the directory to keep; empty for a temporary one.
	data  string
	level slog.Level
}

// demo is a running demo network: its nodes, each with a Run goroutine it
// owns and stops.
type demo struct {
	cfg   demoConfig
	dir   string
	out   io.Writer
	log   *slog.Logger
	nodes []*demoNode
}

// demoNode is one node of the demo and its Run goroutine.
type demoNode struct {
	*node.Node
	cancel context.CancelFunc
	done   chan error
}

// runDemo starts the network, imports the sample, says where to look and
// waits for ctx; then it stops the nodes and removes a temporary data
// directory. Stopped by ctx, it returns nil.
func runDemo(ctx context.Context, cfg demoConfig, out io.Writer) (err error) {
	started := time.Now()
	d := &demo{cfg: cfg, dir: cfg.data, out: out,
		log: slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: cfg.level}))}
	if d.dir != "" {
		if d.dir, err = filepath.Abs(d.dir); err != nil {
			return fmt.Errorf("--data: %w", err)
		}
	} else {
		if d.dir, err = os.MkdirTemp("", "murmur-demo-"); err != nil {
			return fmt.Errorf("make a data directory: %w", err)
		}
		defer func() {
			if rerr := os.RemoveAll(d.dir); rerr != nil {
				err = errors.Join(err, fmt.Errorf("remove the demo's data: %w", rerr))
			}
		}()
	}
	defer func() {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			err = nil // Ctrl-C during the start is a way to stop too
		}
		err = errors.Join(err, d.close())
	}()
	epoch, err := demoEpoch(d.dir, time.Now())
	if err != nil {
		return err
	}
	posts, source := demoSample(cfg.posts)
	fmt.Fprintf(out, "murmur demo: %d nodes on 127.0.0.1, network %q, data in %s\n", cfg.nodes, demoNetwork, d.dir)
	if err := d.start(ctx); err != nil {
		return err
	}
	if err := d.waitRouting(ctx); err != nil {
		return err
	}
	if len(posts) < cfg.posts {
		fmt.Fprintf(out, "only %d sample posts are at hand, not %d\n", len(posts), cfg.posts)
	}
	if err := d.importPosts(ctx, posts, source, epoch); err != nil {
		return err
	}
	d.printReady(posts, time.Since(started))
	<-ctx.Done()
	fmt.Fprintln(out, "\nmurmur demo: stopping")
	return nil
}

// start starts the nodes: the first alone, serving the API on --api and
// holding the process-wide metrics; the others joined through it.
func (d *demo) start(ctx context.Context) error {
	def := node.DefaultConfig()
	replicas := min(def.Network.Replicas, d.cfg.nodes)
	for i := range d.cfg.nodes {
		cfg := node.Config{
			DataDir: filepath.Join(d.dir, fmt.Sprintf("node%d", i)),
			APIAddr: "127.0.0.1:0",
			Logger:  d.log.With("node", i),
			Version: version(),
			Network: node.NetworkConfig{
				Name:           demoNetwork,
				Listen:         []string{"/ip4/127.0.0.1/tcp/0"},
				Replicas:       replicas,
				WriteQuorum:    min(def.Network.WriteQuorum, replicas),
				AuthorRate:     def.Network.AuthorRate,
				AuthorBurst:    def.Network.AuthorBurst,
				IDDifficulty:   demoIDDifficulty,
				PostDifficulty: demoPostDifficulty,
			},
		}
		if i == 0 {
			cfg.APIAddr = d.cfg.api
			cfg.Network.ProcessMetrics = true
		} else {
			cfg.Network.Bootstrap = d.nodes[0].Net().Addrs()
		}
		n, err := node.New(cfg)
		if errors.Is(err, metrics.ErrProcessWideTaken) {
			// An earlier node of this process holds them: a demo run
			// again in one process, as tests do. Node 0 goes without.
			cfg.Network.ProcessMetrics = false
			n, err = node.New(cfg)
		}
		if err != nil {
			return fmt.Errorf("start node %d: %w", i, err)
		}
		nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		dn := &demoNode{Node: n, cancel: cancel, done: make(chan error, 1)}
		d.nodes = append(d.nodes, dn)
		go func() { dn.done <- n.Run(nctx) }()
		if err := waitUntil(ctx, demoJoinTimeout, n.Ready); err != nil {
			return fmt.Errorf("node %d joining through node 0: %w", i, err)
		}
		fmt.Fprintf(d.out, "  node %d  %s  API http://%s/\n", i, n.ID(), n.APIAddr())
	}
	return nil
}

// waitRouting waits until every node's routing table holds every other
// node, asking those that lag to refresh, so that the import finds each
// key's owners at once. Past demoJoinTimeout it goes on: repair places
// what an import could not.
func (d *demo) waitRouting(ctx context.Context) error {
	start := time.Now()
	var lastRefresh time.Time
	err := waitUntil(ctx, demoJoinTimeout, func() bool {
		refresh := time.Since(lastRefresh) > 2*time.Second
		ok := true
		for _, n := range d.nodes {
			if n.Net().RoutingTableSize() < len(d.nodes)-1 {
				ok = false
				if refresh {
					n.Net().RefreshRouting()
				}
			}
		}
		if !ok && refresh {
			lastRefresh = time.Now()
		}
		return ok
	})
	switch {
	case errors.Is(err, errTimedOut):
		fmt.Fprintf(d.out, "some nodes do not know every other yet after %v; going on\n", demoJoinTimeout)
		return nil
	case err != nil:
		return err
	}
	fmt.Fprintf(d.out, "every node knows the %d others (%.1fs)\n", len(d.nodes)-1, time.Since(start).Seconds())
	return nil
}

// importPosts imports post i through node i mod N, all nodes at once, in
// chunks, with progress.
func (d *demo) importPosts(ctx context.Context, posts []api.ImportLine, source string, epoch time.Time) error {
	if len(posts) == 0 {
		return nil
	}
	start := time.Now()
	fmt.Fprintf(d.out, "importing %d posts from %s\n", len(posts), source)
	shares := make([][]api.ImportLine, len(d.nodes))
	for i, p := range posts {
		p.CreatedAt = epoch.Add(-time.Duration(i) * demoPostSpacing).Format(time.RFC3339)
		shares[i%len(d.nodes)] = append(shares[i%len(d.nodes)], p)
	}
	var (
		mu       sync.Mutex
		total    api.ImportResult
		firstErr string
		printed  int // posts done at the last progress line
	)
	tty := false
	if f, ok := d.out.(*os.File); ok {
		tty = isTerminal(f)
	}
	progress := func(r api.ImportResult) {
		mu.Lock()
		defer mu.Unlock()
		total.Accepted += r.Accepted
		total.AlreadyStored += r.AlreadyStored
		total.Rejected += r.Rejected
		if firstErr == "" && len(r.Errors) > 0 {
			firstErr = r.Errors[0].Error
		}
		line := fmt.Sprintf("import: %d/%d posts stored", total.Accepted+total.AlreadyStored, len(posts))
		if total.AlreadyStored > 0 {
			line += fmt.Sprintf(" (%d by an earlier run)", total.AlreadyStored)
		}
		if total.Rejected > 0 {
			line += fmt.Sprintf(", %d rejected", total.Rejected)
		}
		switch stored := total.Accepted + total.AlreadyStored + total.Rejected; {
		case tty:
			fmt.Fprintf(d.out, "\r%s\x1b[K", line)
		case stored*10/len(posts) > printed*10/len(posts):
			// Not a terminal: a line a tenth of the way, not a chunk.
			printed = stored
			fmt.Fprintln(d.out, line)
		}
	}
	errs := make([]error, len(d.nodes))
	var wg sync.WaitGroup
	for i, n := range d.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = importShare(ctx, n.Node, shares[i], progress)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("import through node %d: %w", i, errs[i])
			}
		}()
	}
	wg.Wait()
	if tty {
		fmt.Fprintln(d.out)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if firstErr != "" {
		fmt.Fprintf(d.out, "some posts were rejected, the first because: %s\n", firstErr)
	}
	fmt.Fprintf(d.out, "imported in %.1fs\n", time.Since(start).Seconds())
	return nil
}

// importShare imports posts through n, demoImportChunk at a time.
func importShare(ctx context.Context, n *node.Node, posts []api.ImportLine, progress func(api.ImportResult)) error {
	for len(posts) > 0 {
		chunk := posts[:min(demoImportChunk, len(posts))]
		posts = posts[len(chunk):]
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		for _, p := range chunk {
			if err := enc.Encode(p); err != nil {
				return err
			}
		}
		res, err := n.Import(ctx, &b, api.ImportOptions{}, nil)
		if err != nil {
			return err
		}
		progress(res)
	}
	return nil
}

func (d *demo) printReady(posts []api.ImportLine, took time.Duration) {
	addr := d.nodes[0].APIAddr()
	word := demoSearchWord(posts)
	fmt.Fprintf(d.out, "\nmurmur demo is ready: %d nodes, %d posts, in %.1fs.\n", len(d.nodes), len(posts), took.Seconds())
	fmt.Fprintf(d.out, "  Web page:  http://%s/\n", addr)
	fmt.Fprintf(d.out, "  Search:    murmur search --api %s '%s'\n", addr, word)
	fmt.Fprintf(d.out, "             or http://%s/?q=%s (every node searches the whole network)\n", addr, url.QueryEscape(word))
	if d.cfg.data == "" {
		fmt.Fprintf(d.out, "  Ctrl-C stops the demo and removes %s.\n", d.dir)
	} else {
		fmt.Fprintf(d.out, "  Ctrl-C stops the demo; its data stays in %s for the next run.\n", d.dir)
	}
}

// close stops the nodes, the last started first, and waits for each.
func (d *demo) close() error {
	var errs []error
	for i := len(d.nodes) - 1; i >= 0; i-- {
		n := d.nodes[i]
		n.cancel()
		if err := <-n.done; err != nil {
			errs = append(errs, fmt.Errorf("stop node %d: %w", i, err))
		}
	}
	d.nodes = nil
	return errors.Join(errs...)
}

// errTimedOut is waitUntil's error when its time ran out.
var errTimedOut = errors.New("timed out")

// waitUntil checks cond every 50 ms until it holds, ctx is done or timeout
// passes.
func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%w after %v", errTimedOut, timeout)
		case <-tick.C:
		}
	}
	return nil
}

// demoEpoch is the time the demo's posts count back from: the first run's,
// kept in dir, so that a rerun on the same data makes the same posts.
func demoEpoch(dir string, now time.Time) (time.Time, error) {
	path := filepath.Join(dir, demoEpochFile)
	if b, err := os.ReadFile(path); err == nil {
		if t, err := time.Parse(time.RFC3339, strings.TrimSpace(string(b))); err == nil {
			return t, nil
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return time.Time{}, fmt.Errorf("create data directory %s: %w", dir, err)
	}
	t := now.UTC().Truncate(time.Second)
	if err := os.WriteFile(path, []byte(t.Format(time.RFC3339)+"\n"), 0o600); err != nil {
		return time.Time{}, fmt.Errorf("write %s: %w", path, err)
	}
	return t, nil
}

// demoSample returns up to n sample posts, always the same ones for the
// same files and n, and says where they come from: the installed fortune
// files, else the proverbs shipped with murmur.
func demoSample(n int) ([]api.ImportLine, string) {
	if n == 0 {
		return nil, ""
	}
	var all []api.ImportLine
	var sources []string
	for _, name := range fortuneFiles {
		b, err := os.ReadFile(filepath.Join(fortuneDir, name))
		if err != nil {
			continue // not installed
		}
		all = append(all, parseFortunes(string(b))...)
	}
	if len(all) > 0 {
		sources = append(sources, fortuneDir+" (Debian's fortunes)")
	}
	if len(all) < n {
		all = append(all, parseFortunes(demoPostsText)...)
		sources = append(sources, "the proverbs shipped with murmur")
	}
	// A fixed shuffle mixes the files; a larger n takes more of the same
	// order, so that the first posts stay the same.
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all[:min(n, len(all))], strings.Join(sources, " and ")
}

// parseFortunes reads texts in the fortune format: separated by lines that
// hold only "%", each perhaps ending with an attribution line "-- NAME",
// which becomes the post's author label. Texts longer than demoMaxText, or
// with control characters or few letters (ASCII art), are skipped;
// whitespace runs become single spaces, as a one-line post.
func parseFortunes(s string) []api.ImportLine {
	var out []api.ImportLine
	for _, chunk := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n%\n") {
		lines := strings.Split(strings.Trim(chunk, "\n%"), "\n")
		label := ""
		if last := strings.TrimSpace(lines[len(lines)-1]); len(lines) > 1 && strings.HasPrefix(last, "-- ") {
			label = strings.TrimSpace(strings.TrimPrefix(last, "-- "))
			label, _, _ = strings.Cut(label, ", ")
			lines = lines[:len(lines)-1]
			if len(label) > 80 {
				label = ""
			}
		}
		text := strings.Join(strings.Fields(strings.Join(lines, " ")), " ")
		if !demoText(text) {
			continue
		}
		out = append(out, api.ImportLine{Text: text, Author: label, Lang: "en"})
	}
	return out
}

// demoText reports whether text makes a sample post: short, without
// control characters, and mostly letters.
func demoText(text string) bool {
	if text == "" || len([]rune(text)) > demoMaxText {
		return false
	}
	letters, all := 0, 0
	for _, r := range text {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return false
		}
		all++
		if unicode.IsLetter(r) || r == ' ' {
			letters++
		}
	}
	return letters*10 >= all*8
}

// demoSearchWord is the word of demoSearchWords that most posts hold.
func demoSearchWord(posts []api.ImportLine) string {
	best, bestCount := demoSearchWords[0], 0
	for _, w := range demoSearchWords {
		count := 0
		for _, p := range posts {
			for _, f := range strings.FieldsFunc(strings.ToLower(p.Text), func(r rune) bool { return !unicode.IsLetter(r) }) {
				if f == w {
					count++
					break
				}
			}
		}
		if count > bestCount {
			best, bestCount = w, count
		}
	}
	return best
}
