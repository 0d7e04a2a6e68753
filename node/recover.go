package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/p2p"
)

// DamagedCloseTimeout bounds the wait for a damaged index to close: a panic
// inside bleve can leave its locks held, and then closing never returns.
const DamagedCloseTimeout = 10 * time.Second

// openIndex opens the node's index and reads every post's keys into the
// holdings. An index that cannot be opened or read is damaged (a crash of
// the machine, a failing disk): the node moves it aside, keeping it for
// inspection, starts with an empty one and says so in the log, /readyz, the
// status and murmur_index_recovered. Repair then brings back every key the
// node owns from their other owners, since the node's digests are empty.
func (n *Node) openIndex(ctx context.Context) error {
	dir := filepath.Join(n.cfg.DataDir, "index")
	err := n.tryOpenIndex(ctx, dir)
	if !errors.Is(err, index.ErrDamaged) {
		return err
	}
	moved, merr := index.MoveAside(dir, n.cfg.Now())
	if merr != nil {
		return fmt.Errorf("%w; %v: move %s away by hand, and the node starts with an empty index", err, merr, dir)
	}
	n.log.Error("the index was damaged and is moved aside; starting with an empty one, which repair refills from the other owners of its keys",
		"err", err, "moved_to", moved)
	n.recovery = &api.IndexRecovery{At: n.cfg.Now().UTC(), MovedTo: moved, Error: err.Error()}
	n.metrics.indexRecovered.Set(1)
	if err := n.tryOpenIndex(ctx, dir); err != nil {
		return fmt.Errorf("open a new index after moving the damaged one to %s: %w", moved, err)
	}
	return nil
}

// tryOpenIndex opens the index in dir, checks what searches read and loads
// the holdings from every stored post. Any failure to read is ErrDamaged.
func (n *Node) tryOpenIndex(ctx context.Context, dir string) error {
	h := p2p.NewHoldings()
	ix, err := index.Open(index.Config{
		Dir:          dir,
		MinFreeBytes: n.cfg.MinFreeBytes,
		Logger:       n.log,
		Now:          n.cfg.Now,
		OnStored:     h.Add,
		OnDeleted:    h.Remove,
		OnBatch: func(posts int, took time.Duration) {
			n.metrics.batchPosts.Observe(float64(posts))
			n.metrics.batchSeconds.Observe(took.Seconds())
		},
		OnPanic: func(string) { n.metrics.indexReadPanics.Inc() },
	})
	if err != nil {
		return fmt.Errorf("open index: %w", err)
	}
	err = ix.Check(ctx)
	if err == nil {
		// The per-key digests come from the posts on disk, before any write.
		if werr := h.Load(ctx, ix.Walk); werr != nil {
			err = fmt.Errorf("%w: read the index's keys: %v", index.ErrDamaged, werr)
		}
	}
	if err != nil {
		n.closeDamaged(ix)
		return err
	}
	n.index, n.holdings = ix, h
	return nil
}

// closeDamaged closes an index that failed to read, giving up after
// DamagedCloseTimeout: its files are moved aside either way, and a node that
// starts matters more than the goroutines of a broken index.
func (n *Node) closeDamaged(ix *index.Index) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ix.Close()
	}()
	select {
	case <-done:
	case <-time.After(DamagedCloseTimeout):
		n.log.Warn("the damaged index did not close; left open", "waited", DamagedCloseTimeout)
	}
}

// ReadyNotes says, for /readyz, that the node recovered from a damaged
// index at start, while it is refilled.
func (n *Node) ReadyNotes() []string {
	if n.recovery == nil {
		return nil
	}
	return []string{fmt.Sprintf("index: found damaged at start (%s), moved to %s; started empty, repair refills it from the other owners",
		n.recovery.At.Format(time.RFC3339), filepath.Base(n.recovery.MovedTo))}
}
