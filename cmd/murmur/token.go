package main

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/node"
)

// runToken prints the API token of the node whose data directory is --data:
// what another machine, a script or a browser needs to change the node's
// state (in containers: docker compose exec SERVICE /murmur token).
func runToken(_ context.Context, args []string) error {
	fs := newFlags("token", "[--data DIR]")
	data := fs.String("data", node.DefaultDataDir(), "the node's data `DIR`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{fmt.Errorf("token takes no arguments")}
	}
	tok, err := api.ReadToken(*data)
	if errors.Is(err, iofs.ErrNotExist) {
		return fmt.Errorf("%w; the node creates it at its first start ('murmur node --data %s')", err, *data)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(out(), tok)
	return nil
}
