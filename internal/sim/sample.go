package sim

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/corpus"
	"github.com/murmur-p2p/murmur/post"
)

// SamplePosts signs n fortunes spread evenly over the corpus, one author
// per language (keys drawn from seed), an hour apart. It fails with corpus.ErrMissing when the
// corpus is not installed.
func SamplePosts(n int, seed uint64) ([]*post.Post, error) {
	return SamplePostsEvery(n, seed, time.Hour)
}

// SamplePostsEvery is SamplePosts with the posts every apart.
func SamplePostsEvery(n int, seed uint64, every time.Duration) ([]*post.Post, error) {
	es, err := corpus.Load()
	if err != nil {
		return nil, err
	}
	n = min(n, len(es))
	keys := map[string]crypto.PrivKey{}
	authors := seeded(seed, 2)
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	now := base.Add(time.Duration(n)*every).AddDate(10, 0, 0)
	out := make([]*post.Post, 0, n)
	step := float64(len(es)) / float64(n)
	for i := range n {
		e := es[int(float64(i)*step)]
		k := keys[e.Lang]
		if k == nil {
			if k, _, err = crypto.GenerateEd25519Key(authors); err != nil {
				return nil, err
			}
			keys[e.Lang] = k
		}
		p, err := post.Sign(k, post.Draft{Text: e.Text, Lang: e.Lang, Label: "fortune-" + e.Lang, CreatedAt: base.Add(time.Duration(i) * every)}, now)
		if err != nil {
			return nil, fmt.Errorf("sign fortune %s: %w", e.File, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// OneIndex opens an index under dir holding posts, merged into one segment
// so that it counts distinct terms as the network does: the one index a
// simulation's searches are compared with. The caller closes it.
func OneIndex(ctx context.Context, dir string, posts []*post.Post) (*index.Index, error) {
	ix, err := index.Open(index.Config{Dir: dir, Logger: slog.New(slog.DiscardHandler), MinFreeBytes: -1})
	if err != nil {
		return nil, fmt.Errorf("the one index: %w", err)
	}
	if _, err := ix.Put(ctx, posts...); err != nil {
		ix.Close()
		return nil, fmt.Errorf("the one index: %w", err)
	}
	if err := ix.Compact(ctx); err != nil {
		ix.Close()
		return nil, fmt.Errorf("the one index: %w", err)
	}
	return ix, nil
}

// Texts are the posts' texts, in order, for Mix.
func Texts(posts []*post.Post) []string {
	out := make([]string, len(posts))
	for i, p := range posts {
		out[i] = p.Text
	}
	return out
}
