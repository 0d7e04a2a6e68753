package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/murmur-p2p/murmur/internal/secretfile"
	"github.com/murmur-p2p/murmur/node"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/puzzle"
)

const keyLong = `Back up, restore or replace the node's identity key, kept in its data
directory (--data DIR).

  export   print the node's identity key (or write it to --out FILE, mode 0600),
           to keep offline: whoever holds it can post as this node
  import   make a key exported before the identity of the data directory
           (refused if the directory already holds another identity)
  new      make a new identity that solves the network's identity puzzle, for a
           data directory whose key falls short of it; the old key is kept
           beside it as identity.key.<old peer ID>, and the posts it signed stay
           in the network under the old ID`

const keySubcommands = "export [--out FILE] | import FILE|- | new [--id-difficulty BITS]"

func newKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key export|import|new",
		Short: "Back up, restore or replace the node's identity key",
		Long:  keyLong,
		Example: `  murmur key export --data ./murmur-data --out murmur-identity.key
  murmur key import --data ./new-data murmur-identity.key
  murmur key new --data ./murmur-data --id-difficulty 21`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("give a subcommand: %s", keySubcommands)
			}
			return unknownSubcommand(cmd, args[0], keySubcommands)
		},
	}
	// Also accepted before the subcommand: murmur key --data DIR export.
	data := cmd.PersistentFlags().String("data", node.DefaultDataDir(), "data `DIR` of the node whose identity key to export, restore or replace")

	export := &cobra.Command{
		Use:   "export [flags]",
		Short: "Print the node's identity key, or write it to a file",
		Long: `Print the node's identity key (or write it to --out FILE, created with mode
0600), to keep offline: whoever holds it can post as this node.`,
		Example: `  murmur key export --data ./murmur-data --out murmur-identity.key
  docker compose exec node1 /murmur key export > node1.key`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 0 {
				return usageErrorf("takes no arguments (write to a file with --out FILE)")
			}
			return nil
		},
	}
	outFile := export.Flags().String("out", "", "write the key to `FILE` (created with mode 0600) instead of standard output")
	export.RunE = func(*cobra.Command, []string) error { return exportKey(*data, *outFile) }

	imp := &cobra.Command{
		Use:   "import [flags] FILE|-",
		Short: "Make an exported key the identity of the data directory",
		Long: `Make a key exported before (from FILE, or standard input: '-') the identity of
the data directory. Refused if the directory already holds another identity.`,
		Example: "  murmur key import --data ./new-data murmur-identity.key",
		Args:    exactArgs(1, "give one file (or - for standard input)"),
		RunE:    func(_ *cobra.Command, args []string) error { return importKey(*data, args[0]) },
	}

	newCmd := &cobra.Command{
		Use:   "new [flags]",
		Short: "Make a new identity that solves the network's identity puzzle",
		Long: `Make a new identity that solves the network's identity puzzle, for a data
directory whose key falls short of it. The old key is kept beside it as
identity.key.<old peer ID>, and the posts it signed stay in the network under
the old ID. Refused if the present key solves the puzzle already.`,
		Example: "  murmur key new --data ./murmur-data --id-difficulty 21",
		Args:    noArgs,
	}
	idDifficulty := newCmd.Flags().Int("id-difficulty", node.DefaultConfig().Network.IDDifficulty, "`BITS` of the network's identity puzzle (the node's --id-difficulty)")
	newCmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *idDifficulty < 0 || *idDifficulty > puzzle.MaxDifficulty {
			return usageErrorf("--id-difficulty %d is outside 0..%d", *idDifficulty, puzzle.MaxDifficulty)
		}
		return newKey(cmd.Context(), *data, *idDifficulty)
	}
	cmd.AddCommand(export, imp, newCmd)
	return cmd
}

func exportKey(dir, outFile string) error {
	key, err := post.LoadKey(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w; start the node once ('murmur node --data %s') to create it, or give the node's --data DIR", err, dir)
	}
	if err != nil {
		return err
	}
	text, err := post.ExportKey(key)
	if err != nil {
		return err
	}
	id, _ := peer.IDFromPrivateKey(key)
	if outFile == "" {
		if _, err := out().Write(text); err != nil {
			return fmt.Errorf("write the key: %w", err)
		}
	} else {
		if _, err := os.Lstat(outFile); err == nil {
			return fmt.Errorf("%s exists; give --out a new file", outFile)
		}
		if err := secretfile.Write(outFile, text); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "identity %s exported; keep it offline: whoever holds it can post as this node\n", id)
	return nil
}

func importKey(dir, file string) error {
	var r io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, post.MaxKeyExport+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	key, err := post.DecodeKeyExport(data)
	if err != nil {
		return err
	}
	if err := post.ImportKey(dir, key); err != nil {
		return err
	}
	id, _ := peer.IDFromPrivateKey(key)
	fmt.Fprintf(os.Stderr, "identity %s is the key of %s; start the node with --data %s\n", id, filepath.Join(dir, post.KeyFile), dir)
	return nil
}

// newKey replaces the identity of the data directory dir with a new one
// that solves the puzzle of difficulty d, keeping the old key beside it.
func newKey(ctx context.Context, dir string, d int) error {
	old, err := post.LoadKey(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if old != nil {
		id, _ := peer.IDFromPrivateKey(old)
		if puzzle.Solves(id, d) {
			return fmt.Errorf("identity %s already solves difficulty %d (%d bits); it stays", id, d, puzzle.Bits(id))
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	key, err := node.GrindKey(ctx, d, log)
	if err != nil {
		return err
	}
	if old != nil {
		id, _ := peer.IDFromPrivateKey(old)
		keep := filepath.Join(dir, post.KeyFile+"."+id.String())
		if err := os.Rename(filepath.Join(dir, post.KeyFile), keep); err != nil {
			return fmt.Errorf("keep the old key: %w", err)
		}
		fmt.Fprintf(os.Stderr, "the old identity %s is kept in %s\n", id, keep)
	}
	if err := post.ImportKey(dir, key); err != nil {
		return err
	}
	id, _ := peer.IDFromPrivateKey(key)
	fmt.Fprintf(os.Stderr, "identity %s (%d bits) is the key of %s\n", id, puzzle.Bits(id), filepath.Join(dir, post.KeyFile))
	return nil
}
