package index_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/libp2p/go-libp2p/core/crypto"
	"go.uber.org/goleak"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/post"
)

func TestMain(m *testing.M) {
	// bleve starts a process-wide pool of analysis workers on first use.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/blevesearch/bleve_index_api.AnalysisWorker"))
}

func sign(t testing.TB, k crypto.PrivKey, text string) *post.Post {
	t.Helper()
	p, err := post.Sign(k, post.Draft{Text: text, Lang: "en", CreatedAt: time.Now().Add(-time.Minute)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func open(t *testing.T, dir string) *index.Index {
	t.Helper()
	ix, err := index.Open(index.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func count(t *testing.T, ix *index.Index, q string) uint64 {
	t.Helper()
	mq := bleve.NewMatchQuery(q)
	mq.SetField(index.FieldText)
	res, err := ix.Search(context.Background(), bleve.NewSearchRequest(mq))
	if err != nil {
		t.Fatal(err)
	}
	return res.Total
}

// TestIndexLifecycle stores posts from concurrent writers, reads them back,
// deletes one, and checks that all of it survives a reopen.
func TestIndexLifecycle(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "index")
	var batches, batched int
	var mu sync.Mutex
	ix, err := index.Open(index.Config{Dir: dir, OnBatch: func(n int, _ time.Duration) {
		mu.Lock()
		batches++
		batched += n
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := testkit.Key(t), testkit.Key(t)

	// 8 writers of 50 single posts each: group commit must keep every one.
	var wg sync.WaitGroup
	posts := make([][]*post.Post, 8)
	for w := range posts {
		for i := range 50 {
			posts[w] = append(posts[w], sign(t, alice, fmt.Sprintf("writer%d post%d #murmur", w, i)))
		}
	}
	errc := make(chan error, len(posts))
	for w := range posts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, p := range posts[w] {
				res, err := ix.Put(ctx, p)
				if err == nil && res[0] != nil {
					err = res[0]
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("put: %v", err)
	}
	if n, _ := ix.DocCount(); n != 400 {
		t.Fatalf("DocCount = %d, want 400", n)
	}
	mu.Lock()
	t.Logf("400 posts in %d batches", batches)
	if batched != 400 {
		t.Errorf("OnBatch saw %d posts, want 400", batched)
	}
	mu.Unlock()
	if got := count(t, ix, "#murmur"); got != 400 {
		t.Errorf("search #murmur = %d, want 400", got)
	}

	// A large call is split into batches; a repeat is idempotent.
	var big []*post.Post
	for i := range 2500 {
		big = append(big, sign(t, bob, fmt.Sprintf("bulk %d", i)))
	}
	big = append(big, big[0], posts[0][0])
	res, err := ix.Put(ctx, big...)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range res {
		if e != nil {
			t.Fatalf("post %d: %v", i, e)
		}
	}
	if n, _ := ix.DocCount(); n != 2900 {
		t.Fatalf("DocCount = %d, want 2900", n)
	}

	got, err := ix.Get(ctx, big[7].ID)
	if err != nil || got.Text != "bulk 7" || got.Author != big[7].Author {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	// An ID one hex digit away from a stored one (never the same ID).
	missing := []byte(big[7].ID)
	missing[0] = "1032547698badcfe"[strings.IndexByte("0123456789abcdef", missing[0])]
	if _, err := ix.Get(ctx, string(missing)); !errors.Is(err, index.ErrNotFound) {
		t.Fatalf("Get(missing) err = %v, want ErrNotFound", err)
	}

	// Only the author can delete; a deleted post is refused from then on.
	target := posts[3][3]
	forged, err := post.SignTombstone(bob, target.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Delete(ctx, forged); err == nil {
		t.Fatal("Delete with another author's tombstone succeeded")
	}
	tomb, err := post.SignTombstone(alice, target.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Delete(ctx, tomb); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Get(ctx, target.ID); !errors.Is(err, index.ErrDeleted) {
		t.Fatalf("Get(deleted) err = %v, want ErrDeleted", err)
	}
	if res, err := ix.Put(ctx, target); err != nil || !errors.Is(res[0], index.ErrDeleted) {
		t.Fatalf("Put(deleted) = %v, %v; want ErrDeleted", res, err)
	}
	if got := count(t, ix, "post3"); got != 7 {
		t.Errorf("search post3 after delete = %d, want 7", got)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Put(ctx, sign(t, alice, "late")); !errors.Is(err, index.ErrClosed) {
		t.Fatalf("Put after Close err = %v, want ErrClosed", err)
	}

	// Everything survives a reopen.
	ix = open(t, dir)
	defer ix.Close()
	if n, _ := ix.DocCount(); n != 2899 {
		t.Fatalf("after reopen DocCount = %d, want 2899", n)
	}
	if _, err := ix.Tombstone(target.ID); err != nil {
		t.Fatalf("tombstone lost on reopen: %v", err)
	}
	if got := count(t, ix, "bulk"); got != 2500 {
		t.Errorf("search bulk after reopen = %d, want 2500", got)
	}
}

// TestAnalyzerVersionMismatch refuses an index from another analyzer version
// instead of answering with terms it cannot match.
func TestAnalyzerVersionMismatch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	bi, err := bleve.New(dir, index.NewMapping())
	if err != nil {
		t.Fatal(err)
	}
	if err := bi.SetInternal([]byte("murmur:analyzer"), []byte("0")); err != nil {
		t.Fatal(err)
	}
	bi.Close()
	_, err = index.Open(index.Config{Dir: dir})
	if !errors.Is(err, index.ErrAnalyzerVersion) {
		t.Fatalf("Open err = %v, want ErrAnalyzerVersion", err)
	}
}

// TestOlderIndexIsRebuilt: an index an older version built opens after
// being indexed again from its stored posts, with this version's analyzer:
// the words of a mention and of emphasis are found, its tombstones hold,
// and the new version is recorded. The older version's terms are simulated
// by a document whose text field lacks them.
func TestOlderIndexIsRebuilt(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "index")
	ix := open(t, dir)
	k := testkit.Key(t)
	mention := sign(t, k, "thanks <@adasi> for the _careful_ review")
	gone := sign(t, k, "a post its author deleted")
	if _, err := ix.Put(ctx, mention, gone, sign(t, k, "a third post")); err != nil {
		t.Fatal(err)
	}
	tomb, err := post.SignTombstone(k, gone.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Delete(ctx, tomb); err != nil {
		t.Fatal(err)
	}
	ix.Close()

	bi, err := bleve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := index.DocumentOf(mention, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	doc.Text = "thanks for the review" // what the older version found: neither word
	if err := bi.Index(mention.ID, doc); err != nil {
		t.Fatal(err)
	}
	if err := bi.SetInternal([]byte("murmur:analyzer"), []byte("2")); err != nil {
		t.Fatal(err)
	}
	bi.Close()

	ix = open(t, dir)
	for _, q := range []string{"adasi", "careful"} {
		if got := count(t, ix, q); got != 1 {
			t.Errorf("after the rebuild %q matches %d posts, want the mention's", q, got)
		}
	}
	if n, _ := ix.DocCount(); n != 2 {
		t.Errorf("after the rebuild %d posts, want 2", n)
	}
	if res, err := ix.Put(ctx, gone); err != nil || !errors.Is(res[0], index.ErrDeleted) {
		t.Errorf("the deleted post after the rebuild: %v %v, want ErrDeleted", res, err)
	}
	ix.Close()
	bi, err = bleve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer bi.Close()
	if v, _ := bi.GetInternal([]byte("murmur:analyzer")); string(v) != "3" {
		t.Errorf("version after the rebuild %q, want 3", v)
	}
}

// TestPutCanceledBeforeQueue returns the context's error and stores nothing.
func TestPutCanceledBeforeQueue(t *testing.T) {
	ix := open(t, filepath.Join(t.TempDir(), "index"))
	defer ix.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The queue has room, so the call may be queued or refused; either way
	// the answer must be consistent with what is stored.
	res, err := ix.Put(ctx, sign(t, testkit.Key(t), "maybe"))
	n, _ := ix.DocCount()
	switch {
	case err != nil && n != 0:
		t.Fatalf("Put failed (%v) but stored %d posts", err, n)
	case err == nil && (res[0] != nil || n != 1):
		t.Fatalf("Put succeeded (%v) but stored %d posts", res, n)
	}
}
