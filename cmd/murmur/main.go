// Command murmur runs a murmur node and talks to one: it parses flags, builds
// the parts from their packages, runs them and shuts them down on a signal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/node"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/puzzle"
)

const usage = `murmur: a peer-to-peer microblog whose every node stores and full-text indexes posts.

Usage:
  murmur node   [--data DIR] [--api HOST:PORT]       run a node (Ctrl-C stops it cleanly)
  murmur post   [--lang xx] [--reply-to ID] TEXT     publish a post through a running node
  murmur search [--sort top|latest] [--limit N] QUERY search
  murmur import FILE.jsonl | -                       import JSON Lines posts, with progress
  murmur get ID | murmur delete ID                   fetch or delete a post
  murmur status                                      show the node's identity and holdings
  murmur crawl add|list|remove|run [URL]             manage the crawl list of a node run with --crawl
  murmur key export [--out FILE] | import FILE       back up or restore the node's identity key (--data DIR)
  murmur token                                       print the node's API token (--data DIR)
  murmur version

Commands that talk to a node take --api HOST:PORT (default $MURMUR_API or 127.0.0.1:7070).
A node on this machine needs no token. For one elsewhere, changes need its API token:
$MURMUR_API_TOKEN, or --data DIR naming a directory that holds its api.token.
Run 'murmur COMMAND -h' for a command's flags.

Query language: words (all must match), "exact phrase", -word, a OR b, (groups),
#tag, @mention, from:AUTHOR, lang:xx, since:YYYY-MM-DD, until:YYYY-MM-DD, word*.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "node":
		err = runNode(ctx, args)
	case "post":
		err = runPost(ctx, args)
	case "search":
		err = runSearch(ctx, args)
	case "import":
		err = runImport(ctx, args)
	case "get":
		err = runGet(ctx, args)
	case "delete":
		err = runDelete(ctx, args)
	case "status":
		err = runStatus(ctx, args)
	case "crawl":
		err = runCrawl(ctx, args)
	case "key":
		err = runKey(ctx, args)
	case "token":
		err = runToken(ctx, args)
	case "version":
		fmt.Println("murmur", version())
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "murmur: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		var usageErr usageError
		if errors.As(err, &usageErr) {
			fmt.Fprintf(os.Stderr, "murmur %s: %v\n", cmd, err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "murmur %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ error }

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		return v
	}
	return "unknown"
}

func newFlags(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: murmur %s %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// nodeFlags say which node a command talks to, and where its API token is.
type nodeFlags struct {
	fs   *flag.FlagSet
	api  *string
	data *string
}

func apiFlag(fs *flag.FlagSet) *nodeFlags {
	def := os.Getenv("MURMUR_API")
	if def == "" {
		def = node.DefaultAPIAddr
	}
	return &nodeFlags{
		fs:   fs,
		api:  fs.String("api", def, "`HOST:PORT` or URL of the node's API"),
		data: fs.String("data", node.DefaultDataDir(), "the node's data `DIR`, for its API token (needed for changes from other machines; or set $"+api.TokenEnv+")"),
	}
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	return nil
}

func runNode(ctx context.Context, args []string) error {
	fs := newFlags("node", "[flags]")
	// Every default comes from node.DefaultConfig.
	def := node.DefaultConfig()
	data := fs.String("data", def.DataDir, "data `DIR` for the key and the index")
	addr := fs.String("api", def.APIAddr, "`HOST:PORT` of the HTTP API and web page")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	crawlOn := fs.Bool("crawl", false, "fetch the sources of the crawl list (murmur crawl add URL) on schedule")
	crawlPrivate := fs.Bool("crawl-allow-private", false, "let the crawler fetch loopback and private addresses")
	var listen, bootstrap multiFlag
	fs.Var(&listen, "listen", "libp2p `MULTIADDR` to listen on (repeatable; default TCP and QUIC on all interfaces, free ports)")
	fs.Var(&bootstrap, "bootstrap", "full `MULTIADDR` of a peer to join through, ending in /p2p/<id> (repeatable)")
	bootstrapFile := fs.String("bootstrap-file", "", "`FILE` of bootstrap multiaddrs, one per line, read until one answers")
	addrsFile := fs.String("addrs-file", "", "`FILE` to write this node's multiaddrs to, for others' --bootstrap-file")
	network := fs.String("network", def.Network.Name, "`NAME` of the network to join; nodes of different networks never mix")
	mdnsOn := fs.Bool("mdns", def.Network.MDNS, "discover peers of the same network on the local network")
	replicas := fs.Int("replicas", def.Network.Replicas, "`R`: owners of each key (the whole network must agree)")
	quorum := fs.Int("write-quorum", def.Network.WriteQuorum, "`W`: owner acknowledgements before a post counts as accepted")
	minFree := sizeFlag(def.MinFreeBytes)
	fs.Var(&minFree, "min-free-disk", "take no new posts while the data directory's disk has less than `SIZE` free (e.g. 256MiB, 2GiB; 0: no limit)")
	authorRate := fs.Float64("author-rate", def.Network.AuthorRate, "new posts per second one author may write at this node as an owner")
	idDifficulty := fs.Int("id-difficulty", def.Network.IDDifficulty, "`BITS` of the network's identity puzzle: the SHA-256 of a peer's DHT place (itself the SHA-256 of its ID) must start with that many zero bits (the whole network must agree; a new node finds its key at the first start, about 2^BITS tries)")
	postDifficulty := fs.Int("post-difficulty", def.Network.PostDifficulty, "`BITS` of proof of work a post needs at a node that holds no post of its author (the whole network must agree; this node's posts carry it: about 2^BITS hashes each)")
	authorBurst := fs.Int("author-burst", def.Network.AuthorBurst, "new posts one author may write at once at this node as an owner (a crawl or an import)")
	auth := fs.String("api-auth", string(def.APIAuth), "which requests from other machines need the API token (DATA/api.token): `writes` or all (reads too)")
	var apiHosts multiFlag
	fs.Var(&apiHosts, "api-host", "`NAME` (or NAME:PORT) the API is reached by, besides localhost and IP addresses (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return usageError{fmt.Errorf("--log-level: %w", err)}
	}
	authMode, err := api.ParseAuthMode(*auth)
	if err != nil {
		return usageError{fmt.Errorf("--api-auth: %w", err)}
	}
	for _, h := range apiHosts {
		if _, _, err := api.ParseHostName(h); err != nil {
			return usageError{fmt.Errorf("--api-host: %w", err)}
		}
	}
	if *idDifficulty < 0 || *idDifficulty > puzzle.MaxDifficulty {
		return usageError{fmt.Errorf("--id-difficulty %d is outside 0..%d", *idDifficulty, puzzle.MaxDifficulty)}
	}
	if *postDifficulty < 0 || *postDifficulty > post.MaxWork {
		return usageError{fmt.Errorf("--post-difficulty %d is outside 0..%d", *postDifficulty, post.MaxWork)}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	if _, err := node.EnsureKey(ctx, *data, *idDifficulty, log); err != nil {
		return err
	}
	n, err := node.New(node.Config{DataDir: *data, APIAddr: *addr, Logger: log, Version: version(), Crawl: *crawlOn, CrawlAllowPrivate: *crawlPrivate,
		MinFreeBytes: minFree.watermark(),
		APIAuth:      authMode, APIHosts: apiHosts,
		Network: node.NetworkConfig{
			Name: *network, Listen: listen, Bootstrap: bootstrap, BootstrapFile: *bootstrapFile, AddrsFile: *addrsFile,
			MDNS: *mdnsOn, Replicas: *replicas, WriteQuorum: *quorum, ProcessMetrics: true,
			AuthorRate: *authorRate, AuthorBurst: *authorBurst, IDDifficulty: *idDifficulty,
			PostDifficulty: *postDifficulty,
		}})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "murmur node %s (network %q)\n  API and web page: http://%s/\n  data: %s\n", n.ID(), *network, n.APIAddr(), *data)
	fmt.Fprintf(os.Stderr, "  API token, for changes from other machines: %s ('murmur token --data %s' prints it)\n", filepath.Join(*data, api.TokenFile), *data)
	for _, a := range n.Net().Addrs() {
		fmt.Fprintf(os.Stderr, "  bootstrap others with: --bootstrap %s\n", a)
	}
	return n.Run(ctx)
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// client is the API client of the node the flags name, with its token: from
// $MURMUR_API_TOKEN, else from the data directory's token file. The file's
// token goes only to a node on this machine, unless --data was given: a
// remote --api must not receive the local node's token.
func client(f *nodeFlags) (*api.Client, error) {
	c := api.NewClient(*f.api)
	if tok := os.Getenv(api.TokenEnv); tok != "" {
		c.Token = strings.TrimSpace(tok)
		return c, nil
	}
	dataGiven := false
	f.fs.Visit(func(fl *flag.Flag) { dataGiven = dataGiven || fl.Name == "data" })
	if !dataGiven && !c.Local() {
		return c, nil
	}
	tok, err := api.ReadToken(*f.data)
	if err != nil && !dataGiven {
		return c, nil // a node on this machine takes reads and writes without one
	}
	if err != nil {
		return nil, err
	}
	c.Token = tok
	return c, nil
}

func out() io.Writer { return os.Stdout }
