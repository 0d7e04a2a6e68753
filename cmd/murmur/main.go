// Command murmur runs a murmur node and talks to one: it parses flags, builds
// the parts from their packages, runs them and shuts them down on a signal.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/node"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/puzzle"
)

const rootLong = `murmur: a peer-to-peer microblog whose every node stores and full-text indexes posts.

'murmur node' runs a node; the other commands talk to one through its API.
Commands that talk to a node take --api HOST:PORT (default $MURMUR_API or 127.0.0.1:7070).
A node on this machine needs no token. For one elsewhere, changes need its API token:
$MURMUR_API_TOKEN, or --data DIR naming a directory that holds its api.token.

Flags go anywhere on the command line, before or after the arguments; '--' ends
them, so that text after it may start with '-'. Run 'murmur COMMAND --help' for
a command's flags.

Query language: words (all must match), "exact phrase", -word, a OR b, (groups),
#tag, @mention, from:AUTHOR, lang:xx, since:YYYY-MM-DD, until:YYYY-MM-DD, word*.`

const rootExample = `  murmur node --data ./murmur-data
  murmur post 'hello #murmur, from @me'
  murmur search '#murmur' --sort latest
  murmur follow --search '#murmur'
  murmur timeline --follow
  murmur import posts.jsonl
  murmur crawl add https://example.org/feed.xml
  murmur completion bash > /etc/bash_completion.d/murmur`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit status: 0, 1 for a
// failure, 2 for a mistake in the command line.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	root := newRootCmd()
	if len(args) == 0 {
		// The help, on standard error, as a mistake.
		root.SetOut(stderr)
		root.SetArgs([]string{"--help"})
		_ = root.ExecuteContext(ctx)
		return 2
	}
	root.SetArgs(normalizeArgs(root, args))
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	name := "murmur"
	if cmd != nil {
		name = cmd.CommandPath()
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	var usageErr usageError
	// The root runs nothing: its only errors are unknown commands.
	if errors.As(err, &usageErr) || cmd == nil || !cmd.HasParent() {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", name)
		return 2
	}
	return 1
}

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func usageErrorf(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "murmur",
		Short:         "A peer-to-peer microblog whose every node stores and full-text indexes posts",
		Long:          rootLong,
		Example:       rootExample,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		if c.Annotations[freeTextAnnotation] != "" && strings.HasPrefix(err.Error(), "unknown shorthand flag") {
			err = fmt.Errorf("%w (text that starts with '-' goes after '--': murmur %s -- -word)", err, c.Name())
		}
		return usageError{err}
	})
	root.AddCommand(newNodeCmd(), newPostCmd(), newSearchCmd(), newFollowCmd(), newUnfollowCmd(), newFollowsCmd(), newTimelineCmd(), newProfileCmd(),
		newImportCmd(), newGetCmd(), newDeleteCmd(),
		newStatusCmd(), newCrawlCmd(), newKeyCmd(), newTokenCmd(), newVersionCmd())
	root.AddCommand(newDemoCmd())
	// cobra's 'completion' command, made now to say what it does and to
	// refuse an unknown shell instead of printing its help.
	root.InitDefaultCompletionCmd()
	if comp := subcommand(root, "completion"); comp != nil {
		comp.Example = `  murmur completion bash > /etc/bash_completion.d/murmur
  source <(murmur completion zsh)
  murmur completion fish > ~/.config/fish/completions/murmur.fish`
		comp.Args = cobra.ArbitraryArgs
		comp.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("give a shell: bash, zsh, fish or powershell")
			}
			return unknownSubcommand(cmd, args[0], "bash | zsh | fish | powershell")
		}
	}
	return root
}

// freeTextAnnotation marks the commands whose arguments are text (a post, a
// query), in which a word may start with '-' (-word excludes a word).
const freeTextAnnotation = "murmur/free-text"

// normalizeArgs prepares a command line for cobra, keeping what Go's flag
// package, which the command used before, accepted:
//   - a known flag written with one dash (-api, -data=DIR) becomes --api,
//     --data=DIR (a single dash and one letter stays a shorthand, as -h);
//   - in a command whose arguments are text (post, search), a word that
//     starts with one dash, once the text has begun, is text, not a flag, as
//     the Go flag package stopped at the first argument: 'murmur search cats
//     -dogs' searches for "cats -dogs". Flags after the text need two dashes.
//
// Values of flags that take one are never rewritten.
func normalizeArgs(root *cobra.Command, args []string) []string {
	if len(args) > 0 && strings.HasPrefix(args[0], "__complete") {
		return args // cobra's completion requests hold partial words
	}
	cmd := root
	var out, text []string
	positional := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if cmd.Annotations[freeTextAnnotation] != "" {
				text = append(text, args[i+1:]...)
			} else {
				out = append(out, args[i:]...)
			}
			break
		}
		if len(a) < 2 || a[0] != '-' {
			if !positional {
				if sub := subcommand(cmd, a); sub != nil {
					cmd = sub
					out = append(out, a)
					continue
				}
			}
			positional = true
			if cmd.Annotations[freeTextAnnotation] != "" {
				text = append(text, a)
			} else {
				out = append(out, a)
			}
			continue
		}
		single := a[1] != '-'
		if single && positional && cmd.Annotations[freeTextAnnotation] != "" {
			text = append(text, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		var f *pflag.Flag
		switch {
		case !single:
			f = lookupFlag(cmd, name)
		case len(name) == 1:
			f = lookupShorthand(cmd, name)
		default:
			if f = lookupFlag(cmd, name); f != nil {
				a = "-" + a
			}
		}
		out = append(out, a)
		if f != nil && !hasValue && f.NoOptDefVal == "" {
			if i+1 == len(args) {
				// A flag without its value: cobra must see it last to
				// say so, and runs nothing, so the text may go.
				return out
			}
			i++
			out = append(out, args[i])
		}
	}
	if len(text) > 0 {
		out = append(append(out, "--"), text...)
	}
	return out
}

func subcommand(cmd *cobra.Command, name string) *cobra.Command {
	for _, c := range cmd.Commands() {
		if c.Name() == name || c.HasAlias(name) {
			return c
		}
	}
	return nil
}

func lookupFlag(cmd *cobra.Command, name string) *pflag.Flag {
	cmd.InitDefaultHelpFlag()
	if f := cmd.Flags().Lookup(name); f != nil {
		return f
	}
	return cmd.InheritedFlags().Lookup(name)
}

func lookupShorthand(cmd *cobra.Command, name string) *pflag.Flag {
	cmd.InitDefaultHelpFlag()
	if f := cmd.Flags().ShorthandLookup(name); f != nil {
		return f
	}
	return cmd.InheritedFlags().ShorthandLookup(name)
}

// noArgs is cobra.NoArgs as a usage error.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) != 0 {
		return usageErrorf("takes no arguments, got %q", args)
	}
	return nil
}

// exactArgs is cobra.ExactArgs(n) as a usage error that says what to give.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{errors.New(what)}
		}
		return nil
	}
}

// minArgs is cobra.MinimumNArgs(n) as a usage error that says what to give.
func minArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError{errors.New(what)}
		}
		return nil
	}
}

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

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print murmur's version",
		Long:  "Print murmur's module version and, when built from a checkout, its commit.",
		Args:  noArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Fprintln(out(), "murmur", version())
		},
	}
}

// nodeFlags say which node a command talks to, and where its API token is.
type nodeFlags struct {
	fs   *pflag.FlagSet
	api  *string
	data *string
}

// apiFlags defines --api and --data on fs.
func apiFlags(fs *pflag.FlagSet) *nodeFlags {
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

func newNodeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a node (Ctrl-C stops it cleanly)",
		Long: `Run a node: it joins the network, stores and indexes the posts it owns, and
serves the HTTP API and the web page. Ctrl-C (or SIGTERM) stops it cleanly.

At its first start the node makes its identity key in the data directory,
which takes a while: the key must solve the network's identity puzzle.`,
		Example: `  murmur node --data ./murmur-data
  murmur node --api 0.0.0.0:7070 --api-host murmur.example --bootstrap /dns4/seed.example/tcp/4001/p2p/12D3KooW...
  murmur node --crawl --listen /ip4/0.0.0.0/tcp/4001 --listen /ip4/0.0.0.0/udp/4001/quic-v1`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	// Every default comes from node.DefaultConfig.
	def := node.DefaultConfig()
	data := fs.String("data", def.DataDir, "data `DIR` for the key and the index")
	addr := fs.String("api", def.APIAddr, "`HOST:PORT` of the HTTP API and web page")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	crawlOn := fs.Bool("crawl", false, "fetch the sources of the crawl list (murmur crawl add URL) on schedule")
	crawlPrivate := fs.Bool("crawl-allow-private", false, "let the crawler fetch loopback and private addresses")
	listen := fs.StringArray("listen", nil, "libp2p `MULTIADDR` to listen on (repeatable; default TCP and QUIC on all interfaces, free ports)")
	bootstrap := fs.StringArray("bootstrap", nil, "full `MULTIADDR` of a peer to join through, ending in /p2p/<id> (repeatable)")
	bootstrapFile := fs.String("bootstrap-file", "", "`FILE` of bootstrap multiaddrs, one per line, read until one answers")
	addrsFile := fs.String("addrs-file", "", "`FILE` to write this node's multiaddrs to, for others' --bootstrap-file")
	network := fs.String("network", def.Network.Name, "`NAME` of the network to join; nodes of different networks never mix")
	mdnsOn := fs.Bool("mdns", def.Network.MDNS, "discover peers of the same network on the local network")
	dhtMode := fs.String("dht-mode", def.Network.DHTMode, "`MODE` of the DHT: auto (a server, owning keys, until AutoNAT finds the node unreachable behind a NAT; then a client), server or client (owns no keys; posts and searches all the same)")
	relays := fs.StringArray("relay", nil, "full `MULTIADDR` of a relay to reserve a slot on while unreachable, ending in /p2p/<id> (repeatable; reachable peers of the network are tried too)")
	modeDelay := fs.Duration("dht-mode-delay", def.Network.ModeSwitchDelay, "how long a reachability verdict must hold before --dht-mode auto switches the DHT mode (`DURATION`, e.g. 2m)")
	natOn := fs.Bool("nat", def.Network.NATTraversal, "NAT traversal: UPnP/NAT-PMP port mapping, AutoNAT, hole punching and circuit relay (a relay for others while reachable)")
	replicas := fs.Int("replicas", def.Network.Replicas, "`R`: owners of each key (the whole network must agree)")
	quorum := fs.Int("write-quorum", def.Network.WriteQuorum, "`W`: owner acknowledgements before a post counts as accepted")
	minFree := sizeFlag(def.MinFreeBytes)
	fs.Var(&minFree, "min-free-disk", "take no new posts while the data directory's disk has less than `SIZE` free (e.g. 256MiB, 2GiB; 0: no limit)")
	authorRate := fs.Float64("author-rate", def.Network.AuthorRate, "new posts per second one author may write at this node as an owner")
	idDifficulty := fs.Int("id-difficulty", def.Network.IDDifficulty, "`BITS` of the network's identity puzzle: the SHA-256 of a peer's DHT place (itself the SHA-256 of its ID) must start with that many zero bits (the whole network must agree; a new node finds its key at the first start, about 2^BITS tries)")
	postDifficulty := fs.Int("post-difficulty", def.Network.PostDifficulty, "`BITS` of proof of work a post needs at a node that holds no post of its author (the whole network must agree; this node's posts carry it: about 2^BITS hashes each)")
	authorBurst := fs.Int("author-burst", def.Network.AuthorBurst, "new posts one author may write at once at this node as an owner (a crawl or an import)")
	auth := fs.String("api-auth", string(def.APIAuth), "which requests from other machines need the API token (DATA/api.token): `writes` or all (reads too)")
	apiHosts := fs.StringArray("api-host", nil, "`NAME` (or NAME:PORT) the API is reached by, besides localhost and IP addresses (repeatable)")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(*level)); err != nil {
			return usageErrorf("--log-level: %w", err)
		}
		authMode, err := api.ParseAuthMode(*auth)
		if err != nil {
			return usageErrorf("--api-auth: %w", err)
		}
		for _, h := range *apiHosts {
			if _, _, err := api.ParseHostName(h); err != nil {
				return usageErrorf("--api-host: %w", err)
			}
		}
		if *idDifficulty < 0 || *idDifficulty > puzzle.MaxDifficulty {
			return usageErrorf("--id-difficulty %d is outside 0..%d", *idDifficulty, puzzle.MaxDifficulty)
		}
		if *postDifficulty < 0 || *postDifficulty > post.MaxWork {
			return usageErrorf("--post-difficulty %d is outside 0..%d", *postDifficulty, post.MaxWork)
		}
		if _, err := p2p.ParseDHTMode(*dhtMode); err != nil {
			return usageErrorf("--dht-mode: %w", err)
		}
		if _, err := p2p.ParseAddrs(*relays); err != nil {
			return usageErrorf("--relay: %w", err)
		}
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
		if _, err := node.EnsureKey(ctx, *data, *idDifficulty, log); err != nil {
			return err
		}
		n, err := node.New(node.Config{DataDir: *data, APIAddr: *addr, Logger: log, Version: version(), Crawl: *crawlOn, CrawlAllowPrivate: *crawlPrivate,
			MinFreeBytes: minFree.watermark(),
			APIAuth:      authMode, APIHosts: *apiHosts,
			Network: node.NetworkConfig{
				Name: *network, Listen: *listen, Bootstrap: *bootstrap, BootstrapFile: *bootstrapFile, AddrsFile: *addrsFile,
				MDNS: *mdnsOn, Replicas: *replicas, WriteQuorum: *quorum, ProcessMetrics: true,
				AuthorRate: *authorRate, AuthorBurst: *authorBurst, IDDifficulty: *idDifficulty,
				PostDifficulty: *postDifficulty,
				DHTMode:        *dhtMode, NATTraversal: *natOn, Relays: *relays, ModeSwitchDelay: *modeDelay,
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
	return cmd
}

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
	dataGiven := f.fs.Changed("data")
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
