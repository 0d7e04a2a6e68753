package node

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/puzzle"
)

// GrindReportInterval is how often a node finding its first identity logs
// its progress.
const GrindReportInterval = 5 * time.Second

// EnsureKey reads the key in the data directory dir, or finds one that
// solves the network's identity puzzle of difficulty d at the first start,
// logging its progress, and keeps it there. A key that is there and falls
// short is refused with what to do: a node must not change its identity
// (its posts' author) by itself. New calls it; the CLI calls it first so
// that Ctrl-C stops a long search.
func EnsureKey(ctx context.Context, dir string, d int, log *slog.Logger) (crypto.PrivKey, error) {
	if log == nil {
		log = slog.Default()
	}
	key, err := post.LoadOrCreateKey(dir, func() (crypto.PrivKey, error) {
		return GrindKey(ctx, d, log)
	})
	if err != nil {
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("derive peer ID: %w", err)
	}
	if !puzzle.Solves(id, d) {
		return nil, fmt.Errorf("identity %s (%s) solves %d bits of the network's identity difficulty %d, so other nodes would refuse it: "+
			"make a new identity with 'murmur key new --data %s --id-difficulty %d' (the old key is kept beside it; posts it signed stay in the network under its ID)",
			id, filepath.Join(dir, post.KeyFile), puzzle.Bits(id), d, dir, d)
	}
	return key, nil
}

// GrindKey finds a key whose peer ID solves the identity puzzle of
// difficulty d on every core, logging the progress every
// GrindReportInterval.
func GrindKey(ctx context.Context, d int, log *slog.Logger) (crypto.PrivKey, error) {
	if d <= 0 {
		key, _, err := puzzle.Try(0)
		return key, err
	}
	log.Info("finding an identity the network accepts (first start only)",
		"difficulty", d, "expected_tries", puzzle.Expected(d))
	key, err := puzzle.Grind(ctx, d, 0, GrindReportInterval, func(p puzzle.Progress) {
		log.Info("finding an identity", "tries", p.Tries, "of_expected", fmt.Sprintf("%.0f%%", 100*float64(p.Tries)/p.Expected),
			"elapsed", p.Elapsed.Round(time.Second))
	})
	if err != nil {
		return nil, err
	}
	id, _ := peer.IDFromPrivateKey(key)
	log.Info("found an identity", "peer", id, "bits", puzzle.Bits(id))
	return key, nil
}
