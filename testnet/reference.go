package testnet

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/post"
)

// Posts gathers every post held by any live node, by ID.
func (net *Net) Posts() map[string]*post.Post {
	net.tb.Helper()
	out := map[string]*post.Post{}
	for _, nd := range net.Alive() {
		err := nd.WalkPosts(context.Background(), func(p *post.Post) error {
			out[p.ID] = p
			return nil
		})
		if err != nil {
			net.tb.Fatalf("walk the posts of node %d: %v", nd.Index, err)
		}
	}
	return out
}

// ReferenceIndex opens one index in a temporary directory holding posts:
// the single central index network answers are held to. It is closed when
// the test ends.
func ReferenceIndex(tb testing.TB, posts map[string]*post.Post) *index.Index {
	tb.Helper()
	ix, err := index.Open(index.Config{Dir: filepath.Join(tb.TempDir(), "ref"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ix.Close() })
	all := make([]*post.Post, 0, len(posts))
	for _, p := range posts {
		all = append(all, p)
	}
	for len(all) > 0 {
		n := min(len(all), 1000)
		if _, err := ix.Put(context.Background(), all[:n]...); err != nil {
			tb.Fatal(err)
		}
		all = all[n:]
	}
	return ix
}
