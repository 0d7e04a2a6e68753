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

	"github.com/murmur-p2p/murmur/internal/secretfile"
	"github.com/murmur-p2p/murmur/node"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/puzzle"
)

const keyUsage = `export [--out FILE] | import FILE|- | new [--id-difficulty BITS]

  export   print the node's identity key (or write it to --out FILE, mode 0600),
           to keep offline: whoever holds it can post as this node
  import   make a key exported before the identity of the data directory
           (refused if the directory already holds another identity)
  new      make a new identity that solves the network's identity puzzle, for a
           data directory whose key falls short of it; the old key is kept
           beside it as identity.key.<old peer ID>, and the posts it signed stay
           in the network under the old ID`

func runKey(ctx context.Context, args []string) error {
	fs := newFlags("key", keyUsage)
	data := fs.String("data", node.DefaultDataDir(), "data `DIR` of the node whose identity key to export or restore")
	outFile := fs.String("out", "", "export: write the key to `FILE` (created with mode 0600) instead of standard output")
	idDifficulty := fs.Int("id-difficulty", node.DefaultConfig().Network.IDDifficulty, "new: `BITS` of the network's identity puzzle (the node's --id-difficulty)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{fmt.Errorf("give a subcommand: %s", keyUsage)}
	}
	sub := fs.Arg(0)
	// Flags may also follow the subcommand: murmur key export --out FILE.
	if err := parse(fs, fs.Args()[1:]); err != nil {
		return err
	}
	switch sub {
	case "export":
		if fs.NArg() != 0 {
			return usageError{fmt.Errorf("key export takes no arguments (write to a file with --out FILE)")}
		}
		return exportKey(*data, *outFile)
	case "import":
		if fs.NArg() != 1 {
			return usageError{fmt.Errorf("key import takes one file (or - for standard input)")}
		}
		return importKey(*data, fs.Arg(0))
	case "new":
		if fs.NArg() != 0 {
			return usageError{fmt.Errorf("key new takes no arguments")}
		}
		if *idDifficulty < 0 || *idDifficulty > puzzle.MaxDifficulty {
			return usageError{fmt.Errorf("--id-difficulty %d is outside 0..%d", *idDifficulty, puzzle.MaxDifficulty)}
		}
		return newKey(ctx, *data, *idDifficulty)
	}
	return usageError{fmt.Errorf("unknown subcommand %q: %s", sub, keyUsage)}
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
