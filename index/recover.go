package index

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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

// Check reads every segment file whole against the CRC-32 its footer
// holds, then what a search reads besides the stored posts (Walk reads
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
		if err := checkSum(ctx, seg); err != nil {
			return err
		}
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

// persistedSegment is a segment in a file of its own, whose footer ends
// with the CRC-32 of every byte before it (zap's format).
type persistedSegment interface {
	Path() string
	CRC() uint32
}

// checkSum reads a persisted segment's whole file and compares its CRC-32
// with the one its footer holds. zap trusts its offsets and counts without
// checking them, and some damage makes a read allocate what a count says:
// in a CI run, 4 KB of junk in a posting list made a search ask for 10 TB
// and the runtime stop the process (out of memory is fatal, not a panic
// recoverRead can turn into an error). A file whose sum differs is never
// read by zap. Segments still in memory have no file and are skipped.
func checkSum(ctx context.Context, seg segment.Segment) error {
	ps, ok := seg.(persistedSegment)
	if !ok {
		return nil
	}
	f, err := os.Open(ps.Path())
	if err != nil {
		return fmt.Errorf("%w: open segment: %v", ErrDamaged, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: segment %s: %v", ErrDamaged, filepath.Base(ps.Path()), err)
	}
	if st.Size() < 4 {
		return fmt.Errorf("%w: segment %s holds %d bytes", ErrDamaged, filepath.Base(ps.Path()), st.Size())
	}
	h := crc32.NewIEEE()
	if _, err := io.Copy(h, io.LimitReader(contextReader{ctx, f}, st.Size()-4)); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: read segment %s: %v", ErrDamaged, filepath.Base(ps.Path()), err)
	}
	var stored [4]byte
	if _, err := io.ReadFull(f, stored[:]); err != nil {
		return fmt.Errorf("%w: read segment %s: %v", ErrDamaged, filepath.Base(ps.Path()), err)
	}
	if sum, want := h.Sum32(), binary.BigEndian.Uint32(stored[:]); sum != want {
		return fmt.Errorf("%w: segment %s: its CRC-32 is %08x, its footer says %08x", ErrDamaged, filepath.Base(ps.Path()), sum, want)
	}
	return nil
}

// contextReader stops reading once ctx is done.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
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
