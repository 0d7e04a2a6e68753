package p2p

import (
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Bounds of what an owner remembers of its writers (recentWriters).
const (
	// writerMemory is how long after a peer's last store an owner forgets
	// the keys it stored posts under: a writer that stays completes its
	// placement well within it, or marks the keys still short for its own
	// repair.
	writerMemory = 2 * time.Minute
	// maxWriterKeys bounds the keys remembered of one peer: the keys past
	// it wait for the full sync, so that a peer cannot make a node compare
	// everything it holds by leaving.
	maxWriterKeys = 4096
	// maxWriters bounds the peers remembered; the one that stored longest
	// ago is forgotten first.
	maxWriters = 256
)

// recentWriters remembers the keys each peer stored posts under at this
// node, since the peer last went writerMemory without storing any, for the
// maxWriters peers that stored last. A writer places a post at every owner
// of each of its keys and retries the owners it missed at its own repair passes;
// one that leaves before it has placed every copy leaves the owners that
// took the post the only ones that know of it, and they compare a key with
// its other owners only when the owners change or at the full sync
// (Config.FullSyncInterval, 10 minutes). So when a writer leaves, the node
// compares the keys it stored under at once (Service.writerLeft).
type recentWriters struct {
	mu     sync.Mutex
	byPeer *lru.Cache[peer.ID, *writerKeys]
}

func newRecentWriters() *recentWriters {
	c, err := lru.New[peer.ID, *writerKeys](maxWriters)
	if err != nil {
		panic(err) // only for a size below 1, a programming error
	}
	return &recentWriters{byPeer: c}
}

type writerKeys struct {
	keys map[string]struct{}
	last time.Time
}

// note remembers that p stored posts under keys at now.
func (w *recentWriters) note(p peer.ID, keys []string, now time.Time) {
	if len(keys) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.byPeer.Get(p)
	if !ok || now.Sub(e.last) > writerMemory {
		e = &writerKeys{keys: map[string]struct{}{}}
		w.byPeer.Add(p, e)
	}
	e.last = now
	for _, k := range keys {
		if len(e.keys) >= maxWriterKeys {
			break
		}
		e.keys[k] = struct{}{}
	}
}

// left forgets p and returns the keys it stored under within writerMemory
// of now.
func (w *recentWriters) left(p peer.ID, now time.Time) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.byPeer.Peek(p)
	w.byPeer.Remove(p)
	if !ok || now.Sub(e.last) > writerMemory {
		return nil
	}
	keys := make([]string, 0, len(e.keys))
	for k := range e.keys {
		keys = append(keys, k)
	}
	return keys
}

// writerLeft compares with their other owners the keys p stored posts
// under lately, now that p is gone (recentWriters).
func (s *Service) writerLeft(p peer.ID) {
	if keys := s.writers.left(p, time.Now()); len(keys) > 0 {
		s.log.Debug("a writer left: comparing the keys it stored under", "writer", p, "keys", len(keys))
		s.repair.markDirty(keys)
	}
}
