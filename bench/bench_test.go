package bench

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/blevesearch/bleve/v2"
	blevequery "github.com/blevesearch/bleve/v2/search/query"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/corpus"
	"github.com/murmur-p2p/murmur/internal/testenv"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
)

// Sizes of the benchmark corpora: fortunes of every language, evenly spaced.
const (
	// ingestPosts is how many posts one ingest operation indexes.
	ingestPosts = 10000
	// queryPosts is how many posts the query benchmarks search.
	queryPosts = 20000
	// batchSize is how many posts each Put or bleve batch carries, as an
	// import does (node.ImportBatch).
	batchSize = 1000
)

var (
	loadOnce sync.Once
	entries  []corpus.Entry
	loadErr  error
)

// sample returns n corpus entries evenly spaced over the whole corpus, or
// skips b when the corpus is not installed.
func sample(b *testing.B, n int) []corpus.Entry {
	b.Helper()
	testenv.Need(b, corpus.Available(), "the Debian fortunes corpus", corpus.InstallHint)
	loadOnce.Do(func() { entries, loadErr = corpus.Load() })
	if loadErr != nil {
		b.Fatalf("load corpus: %v", loadErr)
	}
	n = min(n, len(entries))
	out := make([]corpus.Entry, n)
	step := float64(len(entries)) / float64(n)
	for i := range out {
		out[i] = entries[int(float64(i)*step)]
	}
	return out
}

// signed turns entries into posts signed by one key, one minute apart.
func signed(b *testing.B, es []corpus.Entry) []*post.Post {
	b.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		b.Fatal(err)
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	now := time.Now()
	out := make([]*post.Post, len(es))
	for i, e := range es {
		p, err := post.Sign(key, post.Draft{Text: e.Text, Lang: e.Lang, CreatedAt: base.Add(time.Duration(i) * time.Minute)}, now)
		if err != nil {
			b.Fatalf("sign %q: %v", e.Text, err)
		}
		out[i] = p
	}
	return out
}

func dirBytes(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

// BenchmarkIngest indexes the same texts twice per operation, each time
// into a fresh index: through index.Put in batches (murmur: the protocol
// analyzer, the post's fields, its stored signed record, term vectors for
// phrases and highlighting), and through raw bleve batches with the default
// mapping and BM25 (bleve). Both wait for each batch to be persisted, and
// close the index at the end. The two run back to back, in alternating
// order, so that a busy machine slows both alike: their ratio is the cost of
// murmur's schema.
func BenchmarkIngest(b *testing.B) {
	es := sample(b, ingestPosts)
	posts := signed(b, es)
	var textBytes int
	for _, e := range es {
		textBytes += len(e.Text)
	}
	var spent, cpu [2]time.Duration // murmur, bleve
	var disk [2]int64
	for i := 0; b.Loop(); i++ {
		for k := range 2 {
			which := (i + k) % 2
			dir := filepath.Join(b.TempDir(), fmt.Sprint(which))
			start, startCPU := time.Now(), cpuTime()
			if which == 0 {
				ingestMurmur(b, dir, posts)
			} else {
				ingestBleve(b, dir, posts)
			}
			spent[which] += time.Since(start)
			cpu[which] += cpuTime() - startCPU
			disk[which] = dirBytes(dir)
		}
	}
	rate := func(which int) float64 { return float64(len(posts)*b.N) / spent[which].Seconds() }
	b.ReportMetric(rate(0), "murmur-posts/s")
	b.ReportMetric(rate(1), "bleve-posts/s")
	b.ReportMetric(rate(0)/rate(1), "murmur/bleve")
	// The same ratio by CPU time (the process's, background merging
	// included), steadier than wall time on a shared machine.
	b.ReportMetric(cpu[1].Seconds()/cpu[0].Seconds(), "murmur/bleve-by-cpu")
	b.ReportMetric(float64(textBytes*b.N)/spent[0].Seconds()/1e6, "murmur-text-MB/s")
	b.ReportMetric(float64(disk[0])/float64(len(posts)), "murmur-disk-B/post")
	b.ReportMetric(float64(disk[1])/float64(len(posts)), "bleve-disk-B/post")
}

// murmurIndex is a murmur index of posts, closed when b ends.
func murmurIndex(b *testing.B, posts []*post.Post) *index.Index {
	b.Helper()
	ix, err := index.Open(index.Config{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ix.Close() })
	if _, err := ix.Put(context.Background(), posts...); err != nil {
		b.Fatal(err)
	}
	return ix
}

func ingestMurmur(b *testing.B, dir string, posts []*post.Post) {
	ix, err := index.Open(index.Config{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	for start := 0; start < len(posts); start += batchSize {
		errs, err := ix.Put(context.Background(), posts[start:min(start+batchSize, len(posts))]...)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range errs {
			if e != nil {
				b.Fatal(e)
			}
		}
	}
	if err := ix.Close(); err != nil {
		b.Fatal(err)
	}
}

func ingestBleve(b *testing.B, dir string, posts []*post.Post) {
	bi := openBleve(b, dir, posts, func(p *post.Post) map[string]any { return map[string]any{"text": p.Text} })
	if err := bi.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkQuery measures one search on a local index of queryPosts posts,
// through query.Run as the API runs it (parse, compile, search, verify
// every hit of a 20-hit page), for queries of each kind drawn from the
// corpus: a single term, two terms that occur together, and a phrase of two
// adjacent words. Each operation runs the next query of its kind's list.
func BenchmarkQuery(b *testing.B) {
	posts := signed(b, sample(b, queryPosts))
	ix := murmurIndex(b, posts)
	raw := openBleve(b, filepath.Join(b.TempDir(), "bleve"), posts, func(p *post.Post) map[string]any {
		return map[string]any{"text": p.Text, "created": p.CreatedAt}
	})
	defer raw.Close()
	kinds := queries(posts)
	for _, kind := range []string{"term", "term-cold", "and", "phrase", "term-latest"} {
		base := strings.TrimSuffix(strings.TrimSuffix(kind, "-latest"), "-cold")
		sortBy := query.SortTop
		if strings.HasSuffix(kind, "-latest") {
			sortBy = query.SortLatest
		}
		// Only the queries both engines answer alike: raw bleve's default
		// analyzer drops English stop words, which murmur's protocol
		// analyzer keeps, and a query of nothing costs nothing.
		var qs []string
		for _, q := range kinds[base] {
			res, err := query.Run(context.Background(), ix, query.Request{Q: q, Sort: sortBy, Limit: queryPage})
			if err != nil {
				b.Fatal(err)
			}
			if searchBleve(b, raw, base, q, sortBy == query.SortLatest) == res.Total {
				qs = append(qs, q)
			}
		}
		if len(qs) < 10 {
			b.Fatalf("%d %s queries that murmur and raw bleve count alike, of %d", len(qs), kind, len(kinds[base]))
		}
		cold := strings.HasSuffix(kind, "-cold")
		b.Run(kind, func(b *testing.B) {
			var took, bleveTook []time.Duration
			var hits uint64
			for i := 0; b.Loop(); i++ {
				q := qs[i%len(qs)]
				murmur := func() {
					if cold {
						post.ForgetVerified()
						post.ForgetDecoded()
					}
					start := time.Now()
					res, err := query.Run(context.Background(), ix, query.Request{Q: q, Sort: sortBy, Limit: queryPage})
					if err != nil {
						b.Fatal(err)
					}
					took = append(took, time.Since(start))
					hits += res.Total
				}
				other := func() {
					start := time.Now()
					searchBleve(b, raw, base, q, sortBy == query.SortLatest)
					bleveTook = append(bleveTook, time.Since(start))
				}
				if i%2 == 0 {
					murmur()
					other()
				} else {
					other()
					murmur()
				}
			}
			slices.Sort(took)
			slices.Sort(bleveTook)
			p50, bp50 := took[len(took)/2], bleveTook[len(bleveTook)/2]
			p99, bp99 := took[len(took)*99/100], bleveTook[len(bleveTook)*99/100]
			b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
			b.ReportMetric(float64(bp50.Microseconds()), "bleve-p50-µs")
			b.ReportMetric(float64(p50)/float64(bp50), "p50-murmur/bleve")
			b.ReportMetric(float64(p99)/float64(bp99), "p99-murmur/bleve")
			b.ReportMetric(float64(hits)/float64(len(took)), "matches/query")
			b.ReportMetric(float64(len(qs)), "queries")
		})
	}
}

// queryPage is the page size of the query benchmarks, for murmur and raw
// bleve alike.
const queryPage = 20

// openBleve indexes the documents doc makes of posts into a raw bleve index
// with the default mapping (text stored, term vectors on) and BM25, in
// batches of batchSize, and leaves it open.
func openBleve(b *testing.B, dir string, posts []*post.Post, doc func(*post.Post) map[string]any) bleve.Index {
	m := bleve.NewIndexMapping()
	m.ScoringModel = "bm25"
	bi, err := bleve.New(dir, m)
	if err != nil {
		b.Fatal(err)
	}
	for start := 0; start < len(posts); start += batchSize {
		batch := bi.NewBatch()
		for _, p := range posts[start:min(start+batchSize, len(posts))] {
			if err := batch.Index(p.ID, doc(p)); err != nil {
				b.Fatal(err)
			}
		}
		if err := bi.Batch(batch); err != nil {
			b.Fatal(err)
		}
	}
	return bi
}

// searchBleve runs the raw-bleve counterpart of one benchmark query: a match
// query for a term, a conjunction of two for "and", a phrase query for a
// phrase; a page of queryPage hits with their stored text and the matched
// locations (murmur returns the spans of the matches), by score or newest
// first. It returns the number of matches.
func searchBleve(b *testing.B, bi bleve.Index, kind, q string, latest bool) (matches uint64) {
	var bq blevequery.Query
	switch kind {
	case "term":
		bq = bleve.NewMatchQuery(q)
	case "and":
		f := strings.Fields(q)
		bq = bleve.NewConjunctionQuery(bleve.NewMatchQuery(f[0]), bleve.NewMatchQuery(f[1]))
	case "phrase":
		bq = bleve.NewMatchPhraseQuery(strings.Trim(q, `"`))
	default:
		b.Fatalf("no raw bleve form for %s", kind)
	}
	req := bleve.NewSearchRequestOptions(bq, queryPage, 0, false)
	req.Fields = []string{"text"}
	req.IncludeLocations = true
	if latest {
		req.SortBy([]string{"-created", "_id"})
	}
	res, err := bi.Search(req)
	if err != nil {
		b.Fatal(err)
	}
	return res.Total
}

// queries draws up to 100 queries of each kind from the posts, with the
// protocol analyzer: terms found in 20 to 2,000 posts, pairs of such terms
// from one post, and adjacent pairs of them. Only terms of letters are used,
// so the query text means exactly that term.
func queries(posts []*post.Post) map[string][]string {
	df := map[string]int{}
	for _, p := range posts {
		for _, t := range index.Terms(p.Text) {
			df[t]++
		}
	}
	usable := func(t string) bool {
		if df[t] < 20 || df[t] > 2000 {
			return false
		}
		for _, r := range t {
			if !unicode.IsLetter(r) {
				return false
			}
		}
		return true
	}
	seen := map[string]bool{}
	out := map[string][]string{}
	add := func(kind, q string) {
		if !seen[q] && len(out[kind]) < 100 {
			seen[q] = true
			out[kind] = append(out[kind], q)
		}
	}
	var terms []string
	for t := range df {
		if usable(t) {
			terms = append(terms, t)
		}
	}
	sort.Strings(terms)
	for i := 0; i < len(terms); i += max(1, len(terms)/100) {
		add("term", terms[i])
	}
	for i := 0; i < len(posts); i += 37 {
		toks := index.Tokens(posts[i].Text)
		var prev *index.Token
		var first string
		for j := range toks {
			tk := &toks[j]
			if !usable(tk.Term) {
				prev = nil
				continue
			}
			if first == "" {
				first = tk.Term
			} else if first != tk.Term {
				add("and", first+" "+tk.Term)
				first = ""
			}
			if prev != nil && prev.Position+1 == tk.Position && prev.Term != tk.Term {
				add("phrase", `"`+prev.Term+" "+tk.Term+`"`)
				prev = nil
				continue
			}
			prev = tk
		}
	}
	return out
}
