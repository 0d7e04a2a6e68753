package index

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/index/scorch/mergeplan"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/collector"
	bindex "github.com/blevesearch/bleve_index_api"

	"github.com/murmur-p2p/murmur/post"
)

// Stats are collection statistics of the whole network, so that every node
// scores a hit as one index holding every post would. bleve's BM25 takes
// three figures from its index: the number of documents, the cardinality of
// the text field's dictionary (its "average document length" is that
// cardinality over the document count, rounded up) and, per term, the number
// of documents that contain it. A term owner knows the last exactly for its
// own terms; the querier gathers the others and the first two.
type Stats struct {
	// Docs is the number of posts in the network.
	Docs uint64 `json:"docs" cbor:"1,keyasint,omitempty"`
	// TextTerms is the number of distinct terms of the text field.
	TextTerms uint64 `json:"text_terms" cbor:"2,keyasint,omitempty"`
	// DocFreq maps a text term to the number of posts that contain it.
	// Terms it lacks (prefix, wildcard and fuzzy expansions) are scored with
	// the local figure.
	DocFreq map[string]uint64 `json:"doc_freq" cbor:"3,keyasint,omitempty"`
}

// MaxStatsFigure bounds the document and term counts of network
// statistics: a trillion posts is beyond any network's disks, so figures
// above it are lies or corruption.
const MaxStatsFigure = 1 << 40

// Check reports statistics no network can have: figures above
// MaxStatsFigure, or a document frequency above the document count.
func (st *Stats) Check() error {
	if st.Docs > MaxStatsFigure || st.TextTerms > MaxStatsFigure {
		return errors.New("statistics out of range")
	}
	for _, df := range st.DocFreq {
		if df > st.Docs {
			return errors.New("statistics: a document frequency above the document count")
		}
	}
	return nil
}

// SearchWithStats runs req like Search, but scores with st instead of the
// local index's own statistics. It supports what the query package asks
// for: a query, size, sort, search-after, stored fields and locations; not
// facets, highlighting or vectors. A nil st is a plain Search.
func (ix *Index) SearchWithStats(ctx context.Context, req *bleve.SearchRequest, st *Stats) (_ *bleve.SearchResult, err error) {
	defer ix.recoverRead("search", &err)
	if st == nil {
		return ix.Search(ctx, req)
	}
	if st.Docs == 0 || st.TextTerms == 0 {
		return nil, errors.New("search with network statistics: no documents or terms")
	}
	if len(req.Facets) > 0 || req.Highlight != nil || req.SearchBefore != nil {
		return nil, errors.New("search with network statistics: facets, highlighting and search-before are not supported")
	}
	r, err := ix.reader()
	if err != nil {
		return nil, fmt.Errorf("search index: %w", err)
	}
	defer r.Close()
	return searchWithStats(ctx, r, ix.bi.Mapping(), req, st)
}

// ScoreAlone runs req, scored with st, over an index that holds posts and
// nothing else: each post's score is the one SearchWithStats gives it in
// any index that holds it, since BM25 takes a post's own text and the
// network's figures, nothing of the other posts, when st has the
// document frequency of every term the query scores. A querier checks an
// owner's scores with it.
func ScoreAlone(ctx context.Context, posts []*post.Post, req *bleve.SearchRequest, st *Stats) (_ *bleve.SearchResult, err error) {
	if st == nil || st.Docs == 0 || st.TextTerms == 0 {
		return nil, errors.New("score with network statistics: no documents or terms")
	}
	bi, err := bleve.NewUsing("", scoreMapping(), scorch.Name, scorch.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("score posts: %w", err)
	}
	defer bi.Close()
	b := bi.NewBatch()
	for _, p := range posts {
		doc, err := DocumentOf(p, p.CreatedAt)
		if err != nil {
			return nil, err
		}
		doc.Post = "" // the caller has the posts
		if err := b.Index(p.ID, doc); err != nil {
			return nil, fmt.Errorf("score post %s: %w", p.ID, err)
		}
	}
	if err := bi.Batch(b); err != nil {
		return nil, fmt.Errorf("score posts: %w", err)
	}
	adv, err := bi.Advanced()
	if err != nil {
		return nil, fmt.Errorf("score posts: %w", err)
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, fmt.Errorf("score posts: %w", err)
	}
	defer r.Close()
	return searchWithStats(ctx, r, bi.Mapping(), req, st)
}

// scoreMapping is the mapping of ScoreAlone's indexes, built once.
var scoreMapping = sync.OnceValue(NewMapping)

// searchWithStats runs req on the reader r, scored with st.
func searchWithStats(ctx context.Context, r bindex.IndexReader, m mapping.IndexMapping, req *bleve.SearchRequest, st *Stats) (*bleve.SearchResult, error) {
	wr := &statsReader{IndexReader: r, df: st.DocFreq}
	// bleve wants a figure for every field a query touches; fields other
	// than the text only filter (their scores are not used), so their
	// local figures do.
	// Match-all clauses ask for the field "*"; they score a constant.
	card := map[string]int{FieldText: int(st.TextTerms), "*": int(st.TextTerms), "_all": int(st.TextTerms)}
	if br, ok := r.(bindex.BM25Reader); ok {
		for _, f := range []string{FieldAuthor, FieldLabel, FieldLang, FieldReplyTo, FieldShard, FieldCreatedAt} {
			if n, err := br.FieldCardinality(f); err == nil {
				card[f] = n
			}
		}
	}

	ctx = context.WithValue(ctx, search.GetScoringModelCallbackKey,
		search.GetScoringModelCallbackFn(func() string { return bindex.BM25Scoring }))
	ctx = context.WithValue(ctx, search.BM25StatsKey, &search.BM25Stats{
		DocCount:         float64(st.Docs),
		FieldCardinality: card,
	})
	ctx = search.ContextWithTermSearchersCounter(ctx)

	s, err := req.Query.Searcher(ctx, wr, m, search.SearcherOptions{
		IncludeTermVectors: req.IncludeLocations,
		Score:              req.Score,
	})
	if err != nil {
		return nil, fmt.Errorf("search index: %w", searchError(err))
	}
	defer s.Close()
	var coll *collector.TopNCollector
	if req.SearchAfter != nil {
		coll = collector.NewTopNCollectorAfter(req.Size, req.Sort, req.SearchAfter)
	} else {
		coll = collector.NewTopNCollector(req.Size, req.From, req.Sort)
	}
	if err := coll.Collect(ctx, s, wr); err != nil {
		return nil, fmt.Errorf("search index: %w", searchError(err))
	}
	hits := coll.Results()
	// Stored fields are the index's own: the reader beneath the
	// network's statistics loads them.
	if _, err := loadStored(r, req, hits); err != nil {
		return nil, err
	}
	return &bleve.SearchResult{
		Status:   &bleve.SearchStatus{Total: 1, Successful: 1},
		Hits:     hits,
		Total:    coll.Total(),
		MaxScore: coll.MaxScore(),
		Took:     coll.Took(),
	}, nil
}

// statsReader is the index reader with the network's document frequencies
// for the text field's terms. Everything else is the index's own; the
// optional interfaces bleve's searchers look for are passed through.
type statsReader struct {
	bindex.IndexReader
	df map[string]uint64
}

func (r *statsReader) TermFieldReader(ctx context.Context, term []byte, field string, freq, norm, vectors bool) (bindex.TermFieldReader, error) {
	tfr, err := r.IndexReader.TermFieldReader(ctx, term, field, freq, norm, vectors)
	if err != nil || field != FieldText {
		return tfr, err
	}
	if n, ok := r.df[string(term)]; ok {
		return &countedTFR{TermFieldReader: tfr, count: n}, nil
	}
	return tfr, nil
}

// FieldDictRegexp passes through to the index.
func (r *statsReader) FieldDictRegexp(field, regex string) (bindex.FieldDict, error) {
	x, ok := r.IndexReader.(bindex.IndexReaderRegexp)
	if !ok {
		return nil, errors.New("index reader has no regexp dictionary")
	}
	return x.FieldDictRegexp(field, regex)
}

// FieldDictRegexpAutomaton passes through to the index.
func (r *statsReader) FieldDictRegexpAutomaton(field, regex string) (bindex.FieldDict, bindex.RegexAutomaton, error) {
	x, ok := r.IndexReader.(bindex.IndexReaderRegexp)
	if !ok {
		return nil, nil, errors.New("index reader has no regexp dictionary")
	}
	return x.FieldDictRegexpAutomaton(field, regex)
}

// FieldDictFuzzy passes through to the index.
func (r *statsReader) FieldDictFuzzy(field, term string, fuzziness int, prefix string) (bindex.FieldDict, error) {
	x, ok := r.IndexReader.(bindex.IndexReaderFuzzy)
	if !ok {
		return nil, errors.New("index reader has no fuzzy dictionary")
	}
	return x.FieldDictFuzzy(field, term, fuzziness, prefix)
}

// FieldDictFuzzyAutomaton passes through to the index.
func (r *statsReader) FieldDictFuzzyAutomaton(field, term string, fuzziness int, prefix string) (bindex.FieldDict, bindex.FuzzyAutomaton, error) {
	x, ok := r.IndexReader.(bindex.IndexReaderFuzzy)
	if !ok {
		return nil, nil, errors.New("index reader has no fuzzy dictionary")
	}
	return x.FieldDictFuzzyAutomaton(field, term, fuzziness, prefix)
}

// FieldDictContains passes through to the index.
func (r *statsReader) FieldDictContains(field string) (bindex.FieldDictContains, error) {
	x, ok := r.IndexReader.(bindex.IndexReaderContains)
	if !ok {
		return nil, errors.New("index reader has no contains dictionary")
	}
	return x.FieldDictContains(field)
}

// countedTFR reports the network's document frequency of its term.
type countedTFR struct {
	bindex.TermFieldReader
	count uint64
}

func (t *countedTFR) Count() uint64 { return t.count }

// Compile-time checks of the optional interfaces.
var (
	_ bindex.IndexReaderRegexp   = (*statsReader)(nil)
	_ bindex.IndexReaderFuzzy    = (*statsReader)(nil)
	_ bindex.IndexReaderContains = (*statsReader)(nil)
)

// TextTerms returns the cardinality of the local text field's dictionary,
// one of the figures bleve's BM25 uses.
func (ix *Index) TextTerms() (uint64, error) {
	adv, err := ix.bi.Advanced()
	if err != nil {
		return 0, err
	}
	r, err := adv.Reader()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	br, ok := r.(bindex.BM25Reader)
	if !ok {
		return 0, errors.New("index reader has no field cardinality")
	}
	n, err := br.FieldCardinality(FieldText)
	if err != nil {
		return 0, fmt.Errorf("text field cardinality: %w", err)
	}
	return uint64(n), nil
}

// Compact merges the index into one segment. bleve's BM25 takes the text
// field's dictionary size as the sum over segments, so an index's scores
// drift with its merge state; one segment gives the true number of distinct
// terms, the figure the network's statistics use. Tests compact a reference
// index with it; it rewrites the whole index, so it is not for a live node.
func (ix *Index) Compact(ctx context.Context) error {
	adv, err := ix.bi.Advanced()
	if err != nil {
		return fmt.Errorf("compact index: %w", err)
	}
	sc, ok := adv.(*scorch.Scorch)
	if !ok {
		return fmt.Errorf("compact index: %T is not a scorch index", adv)
	}
	opts := mergeplan.SingleSegmentMergePlanOptions
	if err := sc.ForceMerge(ctx, &opts); err != nil {
		return fmt.Errorf("compact index: %w", err)
	}
	return nil
}
