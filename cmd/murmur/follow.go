package main

import (
	"context"
	"errors"
	"io"
)

// followSearch runs 'murmur search --follow': it prints the current matches
// of the query q at the node whose API base URL is base, then new ones as
// they arrive, until ctx ends (SIGINT or SIGTERM).
//
// A placeholder until the live search lands; that work replaces this file.
var followSearch = func(ctx context.Context, base string, q string, out io.Writer) error {
	return errors.New("search --follow is not available yet")
}
