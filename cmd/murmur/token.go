package main

import (
	"errors"
	"fmt"
	iofs "io/fs"

	"github.com/spf13/cobra"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/node"
)

// newTokenCmd prints the API token of the node whose data directory is
// --data: what another machine, a script or a browser needs to change the
// node's state (in containers: docker compose exec SERVICE /murmur token).
func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token [flags]",
		Short: "Print the node's API token",
		Long: `Print the API token of the node whose data directory is --data: what another
machine, a script or a browser needs to change the node's state. The node
creates it at its first start.`,
		Example: `  murmur token --data ./murmur-data
  MURMUR_API_TOKEN=$(murmur token) murmur post --api node.example:7070 hello
  docker compose exec node1 /murmur token`,
		Args: noArgs,
	}
	data := cmd.Flags().String("data", node.DefaultDataDir(), "the node's data `DIR`")
	cmd.RunE = func(*cobra.Command, []string) error { return printToken(*data) }
	return cmd
}

func printToken(data string) error {
	tok, err := api.ReadToken(data)
	if errors.Is(err, iofs.ErrNotExist) {
		return fmt.Errorf("%w; the node creates it at its first start ('murmur node --data %s')", err, data)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(out(), tok)
	return nil
}
