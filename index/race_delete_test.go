package index_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/post"
)

// TestDeleteRacingPutKeepsTheCallbacksTrue races a post's Put with its
// tombstone's Delete, many times: whichever wins, the post ends up deleted
// (the tombstone stays), and OnStored minus OnDeleted says so, since the
// per-key digests of the network are built from those callbacks.
func TestDeleteRacingPutKeepsTheCallbacksTrue(t *testing.T) {
	var mu sync.Mutex
	held := map[string]int{}
	ix, err := index.Open(index.Config{
		Dir: filepath.Join(t.TempDir(), "index"), MaxDelay: time.Microsecond,
		OnStored: func(ps []*post.Post) {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range ps {
				held[p.ID]++
			}
		},
		OnDeleted: func(p *post.Post) {
			mu.Lock()
			defer mu.Unlock()
			held[p.ID]--
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	k := testkit.Key(t)
	ctx := context.Background()
	for i := 0; i < 500; i++ {
		p := sign(t, k, fmt.Sprintf("a post deleted while it is stored, number %d", i))
		tomb, err := post.SignTombstone(k, p.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs, err := ix.Put(ctx, p)
			if err != nil {
				t.Errorf("put: %v", err)
			} else if errs[0] != nil && !errors.Is(errs[0], index.ErrDeleted) {
				t.Errorf("put: %v", errs[0])
			}
		}()
		go func() {
			defer wg.Done()
			if err := ix.Delete(ctx, tomb); err != nil {
				t.Errorf("delete: %v", err)
			}
		}()
		wg.Wait()
		if _, err := ix.Get(ctx, p.ID); !errors.Is(err, index.ErrDeleted) {
			t.Fatalf("round %d: Get after a racing Put and Delete: %v, want ErrDeleted", i, err)
		}
		mu.Lock()
		h := held[p.ID]
		mu.Unlock()
		if h != 0 {
			t.Fatalf("round %d: the callbacks count the deleted post %d times", i, h)
		}
	}
}

// TestPutReturnsAfterOnStored: when Put returns, OnStored has seen the
// posts it stored. The network layer answers "stored" to a peer when Put
// returns and counts the post under its keys in OnStored; a peer that asks
// for the count at once must find it (CI once saw 0 there). OnStored is
// slow here, so that a Put released before it ran would be caught.
func TestPutReturnsAfterOnStored(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	ix, err := index.Open(index.Config{
		Dir: filepath.Join(t.TempDir(), "index"), MaxDelay: time.Microsecond,
		OnStored: func(ps []*post.Post) {
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			for _, p := range ps {
				seen[p.ID] = true
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	k := testkit.Key(t)
	for i := range 5 {
		p := sign(t, k, fmt.Sprintf("a post counted before its put returns, number %d", i))
		if errs, err := ix.Put(context.Background(), p); err != nil || errs[0] != nil {
			t.Fatalf("put: %v %v", err, errs)
		}
		mu.Lock()
		ok := seen[p.ID]
		mu.Unlock()
		if !ok {
			t.Fatalf("put %d returned before OnStored saw its post", i)
		}
	}
}
