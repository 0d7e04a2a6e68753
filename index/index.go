package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/search/searcher"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/murmur-p2p/murmur/post"
)

// Errors of the index.
var (
	// ErrNotFound means the index holds no post with that ID.
	ErrNotFound = errors.New("no such post")
	// ErrDeleted means the post was deleted by its author: the index holds its
	// tombstone and refuses it.
	ErrDeleted = errors.New("post was deleted by its author")
	// ErrClosed means the index was closed.
	ErrClosed = errors.New("index is closed")
	// ErrAnalyzerVersion means the index on disk was built by another version
	// of the protocol analyzer and must be rebuilt.
	ErrAnalyzerVersion = errors.New("index was built with another analyzer version")
	// ErrWrongAuthor means a tombstone's author is not the author of the
	// post it targets: only a post's author may delete it.
	ErrWrongAuthor = errors.New("tombstone author is not the post's author")
	// ErrDiskFull means the free space of the index's file system is under
	// Config.MinFreeBytes: the index takes no new posts until space is
	// freed (deleting still works).
	ErrDiskFull = errors.New("not enough free disk space for new posts")
	// ErrTooManyTerms means a prefix, wildcard or fuzzy term of a query
	// matches more than MaxExpansion words of the index's dictionary.
	ErrTooManyTerms = errors.New("a prefix, wildcard or fuzzy term matches too many words")
	// ErrTooManyPending means the tombstone's author already has
	// MaxPendingPerAuthor tombstones waiting for their posts.
	ErrTooManyPending = errors.New("too many tombstones from this author wait for their posts")
)

// MaxExpansion bounds the words one prefix, wildcard or fuzzy term may
// expand to (bleve's DisjunctionMaxClauseCount, unlimited by default): a
// search costs at most that many posting lists per such term.
const MaxExpansion = 1024

func init() {
	// A process-wide setting of bleve: every index of the process is
	// murmur's.
	searcher.DisjunctionMaxClauseCount = MaxExpansion
}

// searchError names a search that expanded too far, so callers can tell
// the user which limit they hit.
func searchError(err error) error {
	if err != nil && strings.Contains(err.Error(), "TooManyClauses") {
		return fmt.Errorf("%w: more than %d (make it longer or more precise)", ErrTooManyTerms, MaxExpansion)
	}
	return err
}

// DeletedError is ErrDeleted with the tombstone that deleted the post.
type DeletedError struct{ Tombstone *post.Tombstone }

func (e *DeletedError) Error() string {
	return fmt.Sprintf("post %s was deleted by its author", e.Tombstone.Target)
}

// Unwrap makes a DeletedError match ErrDeleted.
func (e *DeletedError) Unwrap() error { return ErrDeleted }

// Defaults of Config.
const (
	DefaultMaxBatch = 1000
	DefaultMaxDelay = 2 * time.Millisecond
	// DefaultMinFreeBytes is the free disk space under which the index
	// refuses new posts.
	DefaultMinFreeBytes = 256 << 20
	// freeSpaceCheckEvery bounds how often the free space is read.
	freeSpaceCheckEvery = time.Second
	// MaxQueue bounds the Put calls waiting for the batcher.
	MaxQueue = 64
)

// Keys of values kept with bleve's internal storage.
const (
	keyAnalyzer     = "murmur:analyzer"
	tombstonePrefix = "murmur:tomb:"
	// analyzerVersionS versions the analyzer and the schema of the index on
	// disk: "2" added FieldShard, "3" is analyzer version 2 (the words of
	// mentions, emphasis). An index of an older version is rebuilt from
	// its stored posts when it opens.
	analyzerVersionS = "3"
)

// Config says where an index lives and how it batches writes.
type Config struct {
	// Dir is the index directory; Open creates it on first use.
	Dir string
	// MaxBatch caps the posts written in one bleve batch (default 1000).
	MaxBatch int
	// MaxDelay is how long the batcher waits to fill a batch once it holds a
	// first post (default 2ms). Callers that pass many posts at once never wait.
	MaxDelay time.Duration
	// Logger receives the index's log lines (default slog.Default()).
	Logger *slog.Logger
	// MinFreeBytes is the free space of the index's file system under which
	// Put refuses new posts with ErrDiskFull (default DefaultMinFreeBytes;
	// negative: never), so that a full disk fails writers plainly instead
	// of failing batches half-way.
	MinFreeBytes int64
	// Now is the clock that dates what the index receives (default
	// time.Now); see DocumentOf.
	Now func() time.Time
	// OnBatch, if set, is called after each persisted batch.
	OnBatch func(posts int, took time.Duration)
	// OnStored, if set, is called with the posts each batch newly stored
	// (not those it already held), once they are persisted and before the
	// Put that brought them returns. The network layer keeps its per-key
	// digests with it.
	OnStored func(posts []*post.Post)
	// OnDeleted, if set, is called with a post a tombstone or Drop removed.
	OnDeleted func(p *post.Post)
	// OnPanic, if set, is called when a read panicked inside bleve (op
	// names the read); the caller got an error matching ErrDamaged.
	OnPanic func(op string)
}

// Index is the node's local, durable store and full-text index of posts. Its
// methods are safe for concurrent use.
type Index struct {
	cfg Config
	bi  bleve.Index
	// docs makes the documents of posts, or is nil when the index's
	// mapping is not this build's (then bleve's walk of it does).
	docs *documentBuilder
	log  *slog.Logger
	reqs chan *putRequest
	// writeMu serializes the batcher's commits with Delete, so that each
	// sees the other's result and OnStored and OnDeleted follow the index.
	writeMu sync.Mutex
	// profileMu orders the read and write of a profile: the newest wins.
	profileMu sync.Mutex
	// pending holds tombstones of posts not held yet.
	pending *pendingTombstones

	spaceMu      sync.Mutex
	spaceChecked time.Time
	spaceFree    uint64
	spaceKnown   bool

	closeOnce sync.Once
	closing   chan struct{}
	done      chan struct{}
	closeErr  error
}

type putRequest struct {
	posts []*post.Post
	errs  []error
	err   error
	done  chan struct{}
}

// DefaultConfig is a Config with every default set (but Dir): what Open
// uses for each field left at its zero value.
func DefaultConfig() Config {
	return Config{MaxBatch: DefaultMaxBatch, MaxDelay: DefaultMaxDelay, MinFreeBytes: DefaultMinFreeBytes}
}

// Open opens the index in cfg.Dir, creating it if it does not exist. It
// refuses an index written with another analyzer version, and one it cannot
// open with an error matching ErrDamaged.
func Open(cfg Config) (*Index, error) {
	d := DefaultConfig()
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = d.MaxBatch
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = d.MaxDelay
	}
	if cfg.MinFreeBytes == 0 {
		cfg.MinFreeBytes = d.MinFreeBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	bi, built, err := openBleve(cfg.Dir)
	if err != nil {
		return nil, err
	}
	ix := &Index{
		cfg:     cfg,
		bi:      bi,
		docs:    newDocumentBuilder(bi.Mapping()),
		log:     cfg.Logger,
		reqs:    make(chan *putRequest, MaxQueue),
		pending: newPendingTombstones(),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	if built != analyzerVersionS {
		if err := ix.rebuild(context.Background(), built); err != nil {
			bi.Close()
			return nil, fmt.Errorf("rebuild index in %s for analyzer version %s: %w", cfg.Dir, analyzerVersionS, err)
		}
	}
	go ix.batcher()
	return ix, nil
}

// openBleve opens or creates the bleve index in dir and returns the
// analyzer version it was built with.
func openBleve(dir string) (bleve.Index, string, error) {
	_, err := os.Stat(filepath.Join(dir, "index_meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
			return nil, "", fmt.Errorf("create index directory: %w", err)
		}
		bi, err := bleve.New(dir, NewMapping())
		if err != nil {
			return nil, "", fmt.Errorf("create index in %s: %w", dir, err)
		}
		if err := bi.SetInternal([]byte(keyAnalyzer), []byte(analyzerVersionS)); err != nil {
			bi.Close()
			return nil, "", fmt.Errorf("record analyzer version: %w", err)
		}
		return bi, analyzerVersionS, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("open index in %s: %w", dir, err)
	}
	bi, err := openExisting(dir)
	if err != nil {
		return nil, "", err
	}
	v, err := bi.GetInternal([]byte(keyAnalyzer))
	if err != nil {
		bi.Close()
		return nil, "", fmt.Errorf("%w: read analyzer version: %v", ErrDamaged, err)
	}
	switch string(v) {
	case analyzerVersionS, "1", "2":
		// Older versions stored every post whole: Open rebuilds them.
		return bi, string(v), nil
	}
	bi.Close()
	return nil, "", fmt.Errorf("%w: on disk %q, this build %q; move %s away and re-import", ErrAnalyzerVersion, v, analyzerVersionS, dir)
}

// openExisting opens the bleve index in dir. Failing to read what is there
// (rather than to reach it) means the files are damaged.
func openExisting(dir string) (bi bleve.Index, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: open index in %s: %v", ErrDamaged, dir, p)
		}
	}()
	bi, err = bleve.Open(dir)
	switch {
	case err == nil:
		return bi, nil
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("open index in %s: %w", dir, err)
	}
	return nil, fmt.Errorf("%w: open index in %s: %v", ErrDamaged, dir, err)
}

// Put stores and indexes posts, which the caller has verified. It returns
// once every accepted post is persisted: one error per post (nil when it is
// stored, also when it was already; ErrDeleted when its author deleted it),
// or an error for the whole call when nothing can be said of the batch.
// Concurrent calls are committed together.
func (ix *Index) Put(ctx context.Context, posts ...*post.Post) ([]error, error) {
	if len(posts) == 0 {
		return nil, nil
	}
	if err := ix.checkSpace(); err != nil {
		return nil, err
	}
	// Split large calls so one batch never exceeds MaxBatch.
	if len(posts) > ix.cfg.MaxBatch {
		errs := make([]error, 0, len(posts))
		for start := 0; start < len(posts); start += ix.cfg.MaxBatch {
			part, err := ix.Put(ctx, posts[start:min(start+ix.cfg.MaxBatch, len(posts))]...)
			if err != nil {
				return nil, err
			}
			errs = append(errs, part...)
		}
		return errs, nil
	}
	req := &putRequest{posts: posts, errs: make([]error, len(posts)), done: make(chan struct{})}
	select {
	case ix.reqs <- req:
	case <-ix.closing:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("queue posts: %w", ctx.Err())
	}
	// Once queued, the request is committed or failed by the batcher; wait
	// for it even if ctx ends, so "accepted" is never guessed. A request
	// that slipped into the queue after the batcher stopped is never taken.
	select {
	case <-req.done:
	case <-ix.done:
		select {
		case <-req.done:
		default:
			return nil, ErrClosed
		}
	}
	if req.err != nil {
		return nil, req.err
	}
	return req.errs, nil
}

// checkSpace refuses new posts while the free disk space is under the
// watermark; the reading is reused for a second.
func (ix *Index) checkSpace() error {
	if ix.cfg.MinFreeBytes < 0 {
		return nil
	}
	ix.spaceMu.Lock()
	defer ix.spaceMu.Unlock()
	if now := time.Now(); now.Sub(ix.spaceChecked) >= freeSpaceCheckEvery {
		ix.spaceFree, ix.spaceKnown = freeBytes(ix.cfg.Dir)
		ix.spaceChecked = now
	}
	if ix.spaceKnown && ix.spaceFree < uint64(ix.cfg.MinFreeBytes) {
		return fmt.Errorf("%w: %d MiB free on the disk of %s, under the %d MiB the node keeps free (--min-free-disk)",
			ErrDiskFull, ix.spaceFree>>20, ix.cfg.Dir, ix.cfg.MinFreeBytes>>20)
	}
	return nil
}

// batcher owns all writes: it gathers queued Put calls into one bleve batch
// (group commit), which scorch persists before Batch returns.
func (ix *Index) batcher() {
	defer close(ix.done)
	for {
		var first *putRequest
		select {
		case first = <-ix.reqs:
		case <-ix.closing:
			ix.failQueued()
			return
		}
		group := []*putRequest{first}
		n := len(first.posts)
		timer := time.NewTimer(ix.cfg.MaxDelay)
	gather:
		for n < ix.cfg.MaxBatch {
			select {
			case r := <-ix.reqs:
				group = append(group, r)
				n += len(r.posts)
			case <-timer.C:
				break gather
			case <-ix.closing:
				break gather
			}
		}
		timer.Stop()
		ix.commit(group, n)
	}
}

func (ix *Index) failQueued() {
	for {
		select {
		case r := <-ix.reqs:
			r.err = ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

func (ix *Index) commit(group []*putRequest, n int) {
	ix.writeMu.Lock()
	defer ix.writeMu.Unlock()
	start := time.Now()
	stored, err := ix.writeBatch(group)
	// OnBatch and OnStored run before the writers are released, so that
	// what a Put returns after is counted and held: a peer told "stored"
	// that asks at once finds the post under its keys.
	if err == nil && ix.cfg.OnBatch != nil {
		ix.cfg.OnBatch(n, time.Since(start))
	}
	if err == nil && ix.cfg.OnStored != nil && len(stored) > 0 {
		ix.cfg.OnStored(stored)
	}
	for _, r := range group {
		r.err = err
		close(r.done)
	}
	if err != nil {
		ix.log.Error("index batch failed", "posts", n, "err", err)
	}
}

// reader opens a reader on the index's current snapshot; the caller closes
// it.
func (ix *Index) reader() (index.IndexReader, error) {
	adv, err := ix.bi.Advanced()
	if err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, fmt.Errorf("open index reader: %w", err)
	}
	// A closed scorch index hands out a nil snapshot, not an error.
	if snap, ok := r.(*scorch.IndexSnapshot); ok && snap == nil {
		return nil, ErrClosed
	}
	return r, nil
}

// writeBatch indexes the group's posts in one bleve batch and returns the
// posts it newly stored.
func (ix *Index) writeBatch(group []*putRequest) ([]*post.Post, error) {
	reader, err := ix.reader()
	if err != nil {
		return nil, err
	}
	defer reader.Close()
	var stored []*post.Post

	b := ix.bi.NewBatch()
	seen := make(map[string]bool)
	now := time.Now()
	for _, r := range group {
		for i, p := range r.posts {
			if seen[p.ID] {
				continue
			}
			seen[p.ID] = true
			// A tombstone deletes only a post by its own author: one from
			// anybody else, stored or waiting, is ignored and forgotten.
			if raw, err := reader.GetInternal([]byte(tombstonePrefix + p.ID)); err != nil {
				return nil, fmt.Errorf("read tombstone: %w", err)
			} else if raw != nil {
				if t, err := post.DecodeTombstone(raw); err == nil && t.Deletes(p) {
					r.errs[i] = ErrDeleted
					continue
				}
				b.DeleteInternal([]byte(tombstonePrefix + p.ID))
			}
			if t := ix.pending.take(p.ID, now); t != nil && t.Deletes(p) {
				raw, err := json.Marshal(t)
				if err != nil {
					return nil, fmt.Errorf("encode tombstone: %w", err)
				}
				b.SetInternal([]byte(tombstonePrefix+p.ID), raw)
				r.errs[i] = ErrDeleted
				continue
			}
			if id, err := reader.InternalID(p.ID); err != nil {
				return nil, fmt.Errorf("look up post: %w", err)
			} else if id != nil {
				continue // already stored: posts are immutable
			}
			doc, err := DocumentOf(p, ix.cfg.Now())
			if err != nil {
				r.errs[i] = err
				continue
			}
			if err := ix.addDocument(b, p.ID, doc); err != nil {
				r.errs[i] = fmt.Errorf("index post: %w", err)
				continue
			}
			stored = append(stored, p)
		}
	}
	if b.Size() == 0 {
		return nil, nil
	}
	if err := ix.bi.Batch(b); err != nil {
		return nil, fmt.Errorf("write batch of %d posts: %w", b.Size(), err)
	}
	return stored, nil
}

// ShardOf is the shard of a post ID in split keys: its first hex digit.
func ShardOf(id string) string {
	if id == "" {
		return "0"
	}
	return id[:1]
}

// DocumentOf is what the index stores for p, received at the time given.
// Its indexed creation time, which sort=latest orders by and since: and
// until: filter on, is the earlier of the two: a post dated ahead of the
// receiving node's clock (by up to post.MaxFutureSkew, or it is refused)
// ranks as received, never above the posts that node receives after it;
// but never before the UTC month of its created_at, the month a split
// term's trie files it under (keyspace.MonthOf), whose nodes are searched
// by the indexed time. The stored post keeps the created_at its author
// signed.
func DocumentOf(p *post.Post, received time.Time) (*Document, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode post: %w", err)
	}
	indexed := p.CreatedAt
	if received = received.Truncate(time.Millisecond); received.Before(indexed) {
		c := p.CreatedAt.UTC()
		indexed = received
		if month := time.Date(c.Year(), c.Month(), 1, 0, 0, 0, 0, time.UTC); indexed.Before(month) {
			indexed = month
		}
	}
	return &Document{
		Text:      p.Text,
		Author:    p.Author,
		Label:     strings.ToLower(p.Label),
		Lang:      p.Lang,
		CreatedAt: indexed.UTC().Format(time.RFC3339Nano),
		ReplyTo:   p.ReplyTo,
		Shard:     ShardOf(p.ID),
		Post:      string(raw),
	}, nil
}

// Get returns the post with the given ID, verified again from its stored
// bytes. It returns ErrDeleted for a deleted post and ErrNotFound otherwise.
func (ix *Index) Get(ctx context.Context, id string) (_ *post.Post, err error) {
	defer ix.recoverRead("get", &err)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	doc, err := ix.bi.Document(id)
	if err != nil {
		return nil, fmt.Errorf("read post %s: %w", id, err)
	}
	if doc == nil {
		// Delete removes the post with the tombstone it stores, so a
		// tombstone stands for a post that is gone.
		if _, err := ix.Tombstone(id); err == nil {
			return nil, ErrDeleted
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, ErrNotFound
	}
	var raw []byte
	doc.VisitFields(func(f index.Field) {
		if f.Name() == FieldPost {
			raw = append([]byte(nil), f.Value()...)
		}
	})
	if raw == nil {
		return nil, fmt.Errorf("post %s has no stored record", id)
	}
	p, err := post.Decode(raw, time.Now())
	if err != nil {
		return nil, fmt.Errorf("stored post %s: %w", id, err)
	}
	return p, nil
}

// Delete applies a verified tombstone: it removes the target from the index
// and keeps the tombstone so the post is refused from then on. It refuses,
// with ErrWrongAuthor, a tombstone whose author is not the post's author. A
// tombstone of a post the index does not hold waits for it (bounded, see
// MaxPendingTombstones): it is applied if the post arrives from the same
// author, and forgotten otherwise; Delete returns nil for it, or
// ErrTooManyPending.
func (ix *Index) Delete(ctx context.Context, t *post.Tombstone) error {
	ix.writeMu.Lock()
	defer ix.writeMu.Unlock()
	p, err := ix.Get(ctx, t.Target)
	switch {
	case errors.Is(err, ErrDeleted):
		return nil
	case errors.Is(err, ErrNotFound):
		if !ix.pending.add(t, time.Now()) {
			return fmt.Errorf("%w: %s has %d", ErrTooManyPending, t.Author, MaxPendingPerAuthor)
		}
		return nil
	case err != nil:
		return err
	case !t.Deletes(p):
		return fmt.Errorf("%w: tombstone by %s, post by %s", ErrWrongAuthor, t.Author, p.Author)
	}
	raw, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode tombstone: %w", err)
	}
	select {
	case <-ix.closing:
		return ErrClosed
	default:
	}
	b := ix.bi.NewBatch()
	b.SetInternal([]byte(tombstonePrefix+t.Target), raw)
	b.Delete(t.Target)
	if err := ix.bi.Batch(b); err != nil {
		return fmt.Errorf("delete post %s: %w", t.Target, err)
	}
	if ix.cfg.OnDeleted != nil {
		ix.cfg.OnDeleted(p)
	}
	return nil
}

// PendingTombstones is the number of tombstones waiting for their post.
func (ix *Index) PendingTombstones() int { return ix.pending.len() }

// Holds reports, for each ID, whether the index holds that post: one
// dictionary lookup each, so answering which of a list a node lacks costs
// the list's length, not the postings of its keys.
func (ix *Index) Holds(ctx context.Context, ids []string) ([]bool, error) {
	r, err := ix.reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out := make([]bool, len(ids))
	for i, id := range ids {
		if i%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		iid, err := r.InternalID(id)
		if err != nil {
			return nil, fmt.Errorf("look up post %s: %w", id, err)
		}
		out[i] = iid != nil
	}
	return out, nil
}

// Drop removes posts from this index without a tombstone: the node no
// longer keeps copies that other nodes own. A dropped post is accepted
// again later. It returns how many of ids were held and removed.
func (ix *Index) Drop(ctx context.Context, ids ...string) (int, error) {
	ix.writeMu.Lock()
	defer ix.writeMu.Unlock()
	select {
	case <-ix.closing:
		return 0, ErrClosed
	default:
	}
	var held []*post.Post
	b := ix.bi.NewBatch()
	for _, id := range ids {
		p, err := ix.Get(ctx, id)
		if err != nil {
			continue // gone already, deleted, or unreadable: nothing to drop
		}
		held = append(held, p)
		b.Delete(id)
	}
	if len(held) == 0 {
		return 0, nil
	}
	if err := ix.bi.Batch(b); err != nil {
		return 0, fmt.Errorf("drop %d posts: %w", len(held), err)
	}
	if ix.cfg.OnDeleted != nil {
		for _, p := range held {
			ix.cfg.OnDeleted(p)
		}
	}
	return len(held), nil
}

// Tombstone returns the stored tombstone of a deleted post, or ErrNotFound.
func (ix *Index) Tombstone(id string) (*post.Tombstone, error) {
	raw, err := ix.bi.GetInternal([]byte(tombstonePrefix + id))
	if err != nil {
		return nil, fmt.Errorf("read tombstone: %w", err)
	}
	if raw == nil {
		return nil, ErrNotFound
	}
	t, err := post.DecodeTombstone(raw)
	if err != nil {
		return nil, fmt.Errorf("stored tombstone of %s: %w", id, err)
	}
	return t, nil
}

// Search runs a bleve search request on the index.
func (ix *Index) Search(ctx context.Context, req *bleve.SearchRequest) (_ *bleve.SearchResult, err error) {
	defer ix.recoverRead("search", &err)
	res, err := ix.bi.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("search index: %w", searchError(err))
	}
	return res, nil
}

// DocCount returns the number of posts in the index.
func (ix *Index) DocCount() (uint64, error) {
	n, err := ix.bi.DocCount()
	if err != nil {
		return 0, fmt.Errorf("count posts: %w", err)
	}
	return n, nil
}

// DiskBytes returns the size of the index's files on disk.
func (ix *Index) DiskBytes() int64 {
	if v, ok := ix.bi.StatsMap()["CurOnDiskBytes"]; ok {
		if n, err := strconv.ParseInt(fmt.Sprint(v), 10, 64); err == nil {
			return n
		}
	}
	var total int64
	_ = filepath.WalkDir(ix.cfg.Dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

// Close stops the batcher, failing Put calls that were still queued, and
// closes the index; everything acknowledged is already on disk.
func (ix *Index) Close() error {
	ix.closeOnce.Do(func() {
		close(ix.closing)
		<-ix.done
		if err := ix.bi.Close(); err != nil {
			ix.closeErr = fmt.Errorf("close index: %w", err)
		}
	})
	return ix.closeErr
}
