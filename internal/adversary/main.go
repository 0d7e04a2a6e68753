// Command adversary plays a hostile peer against a murmur network on this
// machine, to test its defences: it joins through a bootstrap address,
// runs one attack for a bounded time and prints what it sent and what the
// network refused.
//
//	go run ./internal/adversary --bootstrap MULTIADDR --network NAME --attack NAME [--target PEERID] [--duration 20s]
//	go run ./internal/adversary help
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
	"strings"
	"syscall"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/internal/adversary/attack"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/puzzle"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "adversary:", err)
		}
		os.Exit(2)
	}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "help" || args[0] == "list") {
		usage(stdout)
		return nil
	}
	fs := flag.NewFlagSet("adversary", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr) }
	var bootstrap multiFlag
	fs.Var(&bootstrap, "bootstrap", "full `MULTIADDR` of a peer of the network, on this machine (repeatable)")
	network := fs.String("network", "", "`NAME` of the network to attack")
	name := fs.String("attack", "", "the attack to run (see help)")
	target := fs.String("target", "", "attack only this `PEERID`")
	duration := fs.Duration("duration", attack.DefaultDuration, fmt.Sprintf("how long to attack (at most %v)", attack.MaxDuration))
	identities := fs.Int("identities", 0, "fresh author identities of write-flood (4) and sybil-flood (200), ground identities of grind-owners (1)")
	postDifficulty := fs.Int("post-difficulty", p2p.DefaultPostDifficulty, "`BITS` of the network's proof of work on posts, which sybil-flood pays")
	idDifficulty := fs.Int("id-difficulty", puzzle.DefaultDifficulty, "`BITS` of the network's identity puzzle, which every identity of the attacker solves")
	term := fs.String("term", "", "grind-owners: the `WORD` to own (default: a common word of the network's posts)")
	mode := fs.String("mode", attack.ModeHide, "grind-owners: answer searches with nothing (hide) or with the attacker's posts first (promote)")
	replicas := fs.Int("replicas", p2p.DefaultReplicas, "the network's `R`")
	verbose := fs.Bool("v", false, "log the attacker's own peer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" || *network == "" || len(bootstrap) == 0 {
		usage(stderr)
		return errors.New("--attack, --network and --bootstrap are required")
	}
	cfg := attack.Config{Bootstrap: bootstrap, Network: *network, Duration: *duration, Identities: *identities, Replicas: *replicas,
		IDDifficulty: *idDifficulty, PostDifficulty: *postDifficulty, Term: *term, Mode: *mode}
	if *target != "" {
		id, err := peer.Decode(*target)
		if err != nil {
			return fmt.Errorf("--target: %w", err)
		}
		cfg.Target = id
	}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	fmt.Fprintf(stderr, "running %s against network %q for %v...\n", *name, *network, *duration)
	rep, err := attack.Run(ctx, *name, cfg)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, rep)
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: go run ./internal/adversary --bootstrap MULTIADDR --network NAME --attack NAME [--target PEERID] [--duration 20s]")
	fmt.Fprintln(w, "\nPlays a hostile peer against a murmur network on this machine (loopback or this machine's own addresses only), for a bounded time, and prints what it sent and what was refused.")
	fmt.Fprintln(w, "\nAttacks:")
	for _, a := range attack.Attacks() {
		fmt.Fprintf(w, "  %-18s %s\n", a.Name, a.Help)
	}
}
