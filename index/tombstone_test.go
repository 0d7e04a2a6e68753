package index_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/post"
)

// TestTombstoneBeforeItsPost sends an index tombstones for posts it does not
// hold yet, as owners receive them after churn: one forged by another
// author, one genuine. The forged one must not keep the post out when it
// arrives; the genuine one must. Tombstones waiting for their posts are
// bounded per author.
func TestTombstoneBeforeItsPost(t *testing.T) {
	ctx := context.Background()
	ix := open(t, filepath.Join(t.TempDir(), "index"))
	defer ix.Close()
	alice, mallory := testkit.Key(t), testkit.Key(t)

	honest := sign(t, alice, "the heron stands in the reeds")
	forged, err := post.SignTombstone(mallory, honest.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Delete(ctx, forged); err != nil {
		t.Fatalf("a tombstone of a post not held: %v", err)
	}
	if res, err := ix.Put(ctx, honest); err != nil || res[0] != nil {
		t.Fatalf("a post after another author's tombstone of it: %v, %v; want it stored", res, err)
	}
	if got, err := ix.Get(ctx, honest.ID); err != nil || got.ID != honest.ID {
		t.Fatalf("Get after a forged tombstone: %v, %v", got, err)
	}
	// The forged tombstone was forgotten: it does not apply to a post that
	// is held, either.
	if err := ix.Delete(ctx, forged); !errors.Is(err, index.ErrWrongAuthor) {
		t.Fatalf("a forged tombstone of a held post: %v, want ErrWrongAuthor", err)
	}

	deleted := sign(t, alice, "a post its author deletes before it arrives")
	genuine, err := post.SignTombstone(alice, deleted.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Delete(ctx, genuine); err != nil {
		t.Fatal(err)
	}
	if res, err := ix.Put(ctx, deleted); err != nil || !errors.Is(res[0], index.ErrDeleted) {
		t.Fatalf("a post after its author's tombstone: %v, %v; want ErrDeleted", res, err)
	}
	if _, err := ix.Tombstone(deleted.ID); err != nil {
		t.Fatalf("the genuine tombstone is not kept once its post came: %v", err)
	}
	if n := ix.PendingTombstones(); n != 0 {
		t.Fatalf("%d tombstones still wait, want 0", n)
	}

	// One author cannot make the index hold more than its share.
	refused := 0
	for i := 0; i < index.MaxPendingPerAuthor+10; i++ {
		target := sign(t, alice, "never sent "+time.Now().String())
		ts, err := post.SignTombstone(mallory, target.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := ix.Delete(ctx, ts); errors.Is(err, index.ErrTooManyPending) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refused != 10 || ix.PendingTombstones() != index.MaxPendingPerAuthor {
		t.Fatalf("refused %d, waiting %d; want 10 refused and %d waiting", refused, ix.PendingTombstones(), index.MaxPendingPerAuthor)
	}
}
