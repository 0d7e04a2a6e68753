package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/post"
)

// Import limits.
const (
	// MaxImportLine is the longest JSON line an import accepts; longer lines
	// are rejected and skipped, not buffered.
	MaxImportLine = 64 << 10
	// ImportBatch is how many posts an import hands the index at once.
	ImportBatch = 1000
)

var (
	errLineTooLong = fmt.Errorf("line is longer than %d bytes", MaxImportLine)
	errBadJSON     = errors.New("line is not a JSON object")
)

func reject(r *api.ImportResult, line int, err error) {
	r.Rejected++
	if r.ByReason == nil {
		r.ByReason = map[string]int{}
	}
	r.ByReason[reason(err)]++
	if len(r.Errors) < api.MaxReportedErrors {
		r.Errors = append(r.Errors, api.LineError{Line: line, Error: err.Error()})
	}
}

type signedBatch struct {
	posts []*post.Post
	lines []int // line number of each post
}

// Import reads JSON Lines from r, signs each line as a post of this node and
// stores them in batches. Memory stays bounded whatever the input's size: a
// reader goroutine signs at most two batches ahead of the index. progress, if
// not nil, is called after each persisted batch. Posts counted as accepted are
// persisted when progress reports them.
//
// A line whose post the index holds already is counted as already stored
// and neither stored nor placed again: an import run a second time, or again
// after a crash, with the same opts.UndatedTime, stores nothing twice.
func (n *Node) Import(ctx context.Context, r io.Reader, opts api.ImportOptions, progress func(api.ImportResult)) (api.ImportResult, error) {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var res api.ImportResult
	batches := make(chan signedBatch, 2)
	// rejects is owned by the reader goroutine until batches is closed.
	var rejects api.ImportResult
	var readErr error
	go func() {
		defer close(batches)
		readErr = n.readImport(ctx, r, opts, &rejects, batches)
	}()

	var putErr error
	seen := map[string]bool{} // IDs of this import's posts, for repeated lines
	for b := range batches {
		if putErr != nil {
			continue // drain so the reader can stop
		}
		first, last := b.lines[0], b.lines[len(b.lines)-1]
		b, err := n.skipStored(ctx, b, seen, &res)
		if err != nil {
			putErr = fmt.Errorf("look up posts of lines %d-%d: %w", first, last, err)
			cancel()
			continue
		}
		results, err := n.accept(ctx, b.posts...)
		if err != nil {
			putErr = fmt.Errorf("store posts of lines %d-%d: %w", first, last, err)
			cancel()
			continue
		}
		for i, e := range results {
			var short *p2p.ShortError
			if errors.As(e, &short) {
				// Stored here and placed at fewer than W owners of some
				// key: accepted, and repair keeps placing it.
				res.UnderReplicated++
				results[i] = nil
				e = nil
			}
			if e != nil {
				reject(&res, b.lines[i], e)
				n.metrics.postsRejected.WithLabelValues(reason(e)).Inc()
				continue
			}
			res.Accepted++
		}
		n.metrics.postsAccepted.WithLabelValues("import").Add(float64(len(b.posts) - countErrs(results)))
		res.Lines = last
		if progress != nil {
			progress(res)
		}
	}
	// The reader is done: merge what it rejected.
	res.Lines = max(res.Lines, rejects.Lines)
	res.Rejected += rejects.Rejected
	for k, v := range rejects.ByReason {
		if res.ByReason == nil {
			res.ByReason = map[string]int{}
		}
		res.ByReason[k] += v
	}
	res.Errors = mergeLineErrors(res.Errors, rejects.Errors)
	res.TookMS = time.Since(start).Milliseconds()
	if putErr != nil {
		return res, putErr
	}
	if readErr != nil {
		return res, readErr
	}
	return res, ctx.Err()
}

// skipStored counts the posts of b that the index holds, or that an earlier
// line of this import made, as already stored, and returns the others.
func (n *Node) skipStored(ctx context.Context, b signedBatch, seen map[string]bool, res *api.ImportResult) (signedBatch, error) {
	ids := make([]string, len(b.posts))
	for i, p := range b.posts {
		ids[i] = p.ID
	}
	held, err := n.index.Contains(ctx, ids...)
	if err != nil {
		return signedBatch{}, err
	}
	var fresh signedBatch
	for i, p := range b.posts {
		if held[i] || seen[p.ID] {
			res.AlreadyStored++
			continue
		}
		seen[p.ID] = true
		fresh.posts = append(fresh.posts, p)
		fresh.lines = append(fresh.lines, b.lines[i])
	}
	return fresh, nil
}

func countErrs(errs []error) int {
	c := 0
	for _, e := range errs {
		if e != nil {
			c++
		}
	}
	return c
}

// mergeLineErrors merges two line-ordered lists, keeping the first api.MaxReportedErrors.
func mergeLineErrors(a, b []api.LineError) []api.LineError {
	out := make([]api.LineError, 0, min(len(a)+len(b), api.MaxReportedErrors))
	for len(out) < api.MaxReportedErrors && (len(a) > 0 || len(b) > 0) {
		if len(b) == 0 || (len(a) > 0 && a[0].Line < b[0].Line) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// readImport parses and signs lines, sending full batches on out.
func (n *Node) readImport(ctx context.Context, r io.Reader, opts api.ImportOptions, rejects *api.ImportResult, out chan<- signedBatch) error {
	br := bufio.NewReaderSize(r, MaxImportLine)
	var b signedBatch
	send := func() bool {
		if len(b.posts) == 0 {
			return true
		}
		select {
		case out <- b:
			b = signedBatch{}
			return true
		case <-ctx.Done():
			return false
		}
	}
	for line := 1; ; line++ {
		data, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			reject(rejects, line, errLineTooLong)
			n.metrics.postsRejected.WithLabelValues(reason(errLineTooLong)).Inc()
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err == nil {
				rejects.Lines = line
				continue
			}
			data = nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			send()
			return fmt.Errorf("read import at line %d: %w", line, err)
		}
		if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 {
			rejects.Lines = line
			p, perr := n.signLine(ctx, trimmed, opts)
			if perr != nil {
				reject(rejects, line, perr)
				n.metrics.postsRejected.WithLabelValues(reason(perr)).Inc()
			} else {
				b.posts = append(b.posts, p)
				b.lines = append(b.lines, line)
				if len(b.posts) == ImportBatch && !send() {
					return ctx.Err()
				}
			}
		}
		if errors.Is(err, io.EOF) {
			if !send() {
				return ctx.Err()
			}
			return nil
		}
	}
}

func (n *Node) signLine(ctx context.Context, data []byte, opts api.ImportOptions) (*post.Post, error) {
	// encoding/json would silently turn invalid UTF-8 into U+FFFD.
	if !utf8.Valid(data) {
		return nil, post.ErrInvalidUTF8
	}
	var l api.ImportLine
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadJSON, err)
	}
	d := post.Draft{Text: l.Text, Lang: l.Lang, Label: l.Author, ReplyTo: l.ReplyTo, CreatedAt: opts.UndatedTime}
	if l.CreatedAt != "" {
		t, err := parseTime(l.CreatedAt)
		if err != nil {
			return nil, fmt.Errorf("%w: created_at %q: want RFC 3339 (2006-01-02T15:04:05Z) or a date (2006-01-02)", post.ErrBadField, l.CreatedAt)
		}
		d.CreatedAt = t
	}
	return n.sign(ctx, d, n.cfg.Now())
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, s)
}
