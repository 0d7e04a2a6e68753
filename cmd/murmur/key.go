package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/internal/secretfile"
	"github.com/murmur-p2p/murmur/node"
	"github.com/murmur-p2p/murmur/post"
)

const keyUsage = `export [--out FILE] | import FILE|-

  export   print the node's identity key (or write it to --out FILE, mode 0600),
           to keep offline: whoever holds it can post as this node
  import   make a key exported before the identity of the data directory
           (refused if the directory already holds another identity)`

func runKey(_ context.Context, args []string) error {
	fs := newFlags("key", keyUsage)
	data := fs.String("data", node.DefaultDataDir(), "data `DIR` of the node whose identity key to export or restore")
	outFile := fs.String("out", "", "export: write the key to `FILE` (created with mode 0600) instead of standard output")
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
