package index

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// ErrDamaged means the index on disk cannot be opened or read: a file was
// truncated or overwritten (a crash of the machine, a failing disk). The
// node moves such an index aside and starts with an empty one.
var ErrDamaged = errors.New("index is damaged")

// damagedSuffix names a directory an index was moved to by MoveAside.
const damagedSuffix = ".damaged-"

// recoverRead turns a panic inside bleve while reading (zap decodes its
// files without checking every offset, so a damaged segment can panic) into
// an ErrDamaged error for the caller, and reports it through OnPanic. Use it
// as: defer ix.recoverRead("search", &err).
func (ix *Index) recoverRead(op string, err *error) {
	p := recover()
	if p == nil {
		return
	}
	ix.log.Error("the index library panicked while reading; the index may be damaged", "op", op, "panic", p, "stack", string(debug.Stack()))
	if ix.cfg.OnPanic != nil {
		ix.cfg.OnPanic(op)
	}
	*err = fmt.Errorf("%w: %s: %v", ErrDamaged, op, p)
}

// Check reads what a search reads besides the stored posts (Walk reads
// those): every term dictionary of every segment with the size of each
// term's posting list, and the creation times. It returns an error matching
// ErrDamaged if any of it cannot be read, so that a damaged index is found
// at start rather than by the searches that would fail on it. It takes time
// proportional to the number of distinct terms and posts.
func (ix *Index) Check(ctx context.Context) (err error) {
	defer ix.recoverRead("check", &err)
	r, err := ix.reader()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	defer r.Close()
	// bleve reads a field's dictionaries in a goroutine per segment, where
	// a panic cannot be recovered: read each segment's here instead.
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		return fmt.Errorf("check index: a %T is not a scorch index", r)
	}
	for _, ss := range snap.Segments() {
		seg := ss.Segment()
		for _, f := range seg.Fields() {
			if err := checkDict(ctx, seg, f); err != nil {
				return err
			}
		}
	}
	req := bleve.NewSearchRequestOptions(bleve.NewMatchAllQuery(), 1, 0, false)
	req.SortBy([]string{"-" + FieldCreatedAt, "_id"})
	if _, err := ix.bi.SearchInContext(ctx, req); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: sort by %s: %v", ErrDamaged, FieldCreatedAt, err)
	}
	return nil
}

// checkDict reads one segment's dictionary of a field, and the size of
// each of its posting lists.
func checkDict(ctx context.Context, seg segment.Segment, field string) error {
	d, err := seg.Dictionary(field)
	if err != nil {
		return fmt.Errorf("%w: dictionary of %s: %v", ErrDamaged, field, err)
	}
	it := d.AutomatonIterator(nil, nil, nil)
	for n := 0; ; n++ {
		if n%10000 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		e, err := it.Next()
		if err != nil {
			return fmt.Errorf("%w: dictionary of %s: %v", ErrDamaged, field, err)
		}
		if e == nil {
			return nil
		}
	}
}

// MoveAside renames a damaged index directory to DIR.damaged-TIME, next to
// it, where it is kept for inspection, and returns the new path. The caller
// then opens a new, empty index in dir.
func MoveAside(dir string, now time.Time) (string, error) {
	base := dir + damagedSuffix + now.UTC().Format("20060102T150405Z")
	to := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
			break
		}
		to = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(dir, to); err != nil {
		return "", fmt.Errorf("move the damaged index aside: %w", err)
	}
	return to, nil
}
