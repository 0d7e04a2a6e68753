package index_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/post"
)

// damagedIndex builds an index of 1,500 posts in three batches, closes it
// and returns its directory and its newest segment file.
func damagedIndex(t *testing.T) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "index")
	ix := open(t, dir)
	k := testkit.Key(t)
	for b := range 3 {
		var ps []*post.Post
		for i := range 500 {
			ps = append(ps, sign(t, k, fmt.Sprintf("post %d of batch %d, hello world #tag%d", i, b, i%7)))
		}
		if _, err := ix.Put(context.Background(), ps...); err != nil {
			t.Fatal(err)
		}
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "store", "*.zap"))
	if len(segs) == 0 {
		t.Fatal("no segment files")
	}
	sort.Strings(segs) // zap files are named by an increasing epoch
	return dir, segs[len(segs)-1]
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readAll opens dir and reads it as a node does at start (Check, Walk) and
// then as searches do. It returns the first error; a panic fails the test.
func readAll(t *testing.T, dir string) (posts int, err error) {
	t.Helper()
	var panics []string
	ix, err := index.Open(index.Config{Dir: dir, Logger: slog.New(slog.DiscardHandler), OnPanic: func(op string) { panics = append(panics, op) }})
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := ix.Close(); cerr != nil && err == nil {
			err = cerr
		}
		if len(panics) > 0 && !errors.Is(err, index.ErrDamaged) {
			t.Errorf("reads panicked in %v, but the error %v does not say the index is damaged", panics, err)
		}
	}()
	if err := ix.Check(context.Background()); err != nil {
		return 0, err
	}
	if err := ix.Walk(context.Background(), func(*post.Post) error { posts++; return nil }); err != nil {
		return posts, err
	}
	q := bleve.NewMatchQuery("hello")
	q.SetField(index.FieldText)
	req := bleve.NewSearchRequest(q)
	req.SortBy([]string{"-" + index.FieldCreatedAt})
	req.Fields = []string{index.FieldPost}
	if _, err := ix.Search(context.Background(), req); err != nil {
		return posts, err
	}
	return posts, nil
}

// TestDamagedSegmentIsAnError overwrites 4 KB of the newest segment at every
// 4 KB boundary in turn, as a crash or a failing disk might: opening and
// reading the index must never panic or stop the process, and every such
// damage is reported as ErrDamaged by Open or Check (the segment's CRC-32)
// before a search reads it. The one exception is damage that keeps bleve
// from opening the segment at all (its footer, or the sections it reads
// when it opens one): bleve then logs it and opens the snapshot before,
// without the newest segment's posts, and says nothing (left as it is:
// repair refills them from their other owners). Without the checksum, damage that only a
// search's postings reached surfaced as that search's error, a wrong
// count of posts, or (in one CI run) an allocation of 10 TB that stopped
// the test binary.
func TestDamagedSegmentIsAnError(t *testing.T) {
	base, newest := damagedIndex(t)
	st, err := os.Stat(newest)
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(base, newest)
	rng := rand.New(rand.NewPCG(21, 21))
	step := int64(4096)
	if testing.Short() {
		step *= 8
	}
	whole := filepath.Join(t.TempDir(), "index")
	copyTree(t, base, whole)
	full, err := readAll(t, whole)
	if err != nil {
		t.Fatalf("the undamaged index: %v", err)
	}
	outcomes := map[string]int{}
	for off := int64(0); off < st.Size(); off += step {
		dir := filepath.Join(t.TempDir(), "index")
		copyTree(t, base, dir)
		junk := make([]byte, 4096)
		for i := range junk {
			junk[i] = byte(rng.UintN(256))
		}
		f, err := os.OpenFile(filepath.Join(dir, rel), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(junk, off); err != nil {
			t.Fatal(err)
		}
		f.Close()
		n, err := readAll(t, dir)
		switch {
		case errors.Is(err, index.ErrDamaged):
			outcomes["damaged"]++
		case err != nil:
			outcomes["search error"]++
		default:
			outcomes[fmt.Sprintf("read %d posts", n)]++
		}
		fellBack := err == nil && n < full
		if !errors.Is(err, index.ErrDamaged) && !fellBack {
			t.Errorf("4 KB overwritten at %d: read %d posts, err %v; want ErrDamaged, or fewer than %d posts from the snapshot before", off, n, err, full)
		}
	}
	t.Logf("outcomes over %d offsets: %v", (st.Size()+step-1)/step, outcomes)
}

// TestMoveAside keeps the damaged index, under a name that says what it is,
// and leaves the way free for a new one.
func TestMoveAside(t *testing.T) {
	base, _ := damagedIndex(t)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	moved, err := index.MoveAside(base, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := base + ".damaged-20261130T120000Z"; moved != want {
		t.Fatalf("moved to %s, want %s", moved, want)
	}
	if _, err := os.Stat(filepath.Join(moved, "index_meta.json")); err != nil {
		t.Fatalf("the moved index lacks its files: %v", err)
	}
	ix := open(t, base)
	if n, err := ix.DocCount(); err != nil || n != 0 {
		t.Fatalf("new index holds %d posts (%v), want an empty one", n, err)
	}
	ix.Close()
	if err := os.MkdirAll(base, 0o700); err != nil {
		t.Fatal(err)
	}
	again, err := index.MoveAside(base, now)
	if err != nil || !strings.HasSuffix(again, "-2") {
		t.Fatalf("second move in the same second: %s, %v; want a -2 suffix", again, err)
	}
}
