package netsearch

import (
	"context"
	"errors"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/cborwire"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/query"
)

// StatsSearcher runs a bleve search scored with the network's statistics;
// *index.Index is one.
type StatsSearcher interface {
	SearchWithStats(ctx context.Context, req *bleve.SearchRequest, st *index.Stats) (*bleve.SearchResult, error)
}

// Answer is an owner's side of a network search: the query restricted to
// one key of the querier's plan, or a span of a split key's shards (and to
// none of the keys before it),
// searched on the local index and scored with the statistics sent. A query
// that is itself at fault (a term that expands too far) is answered with
// the reason in Refused, since every owner would refuse it.
func Answer(ctx context.Context, ix StatsSearcher, r *Request) (*Response, error) {
	p, err := query.Prepare(query.Request{Q: r.Query, Sort: query.Sort(r.Sort), Lang: r.Lang, Since: r.Since, Until: r.Until, Limit: 1})
	if err != nil {
		return nil, err
	}
	if err := query.CheckAfter(p.Sort, r.After); err != nil {
		return nil, err
	}
	p.After = r.After
	parsed, err := keyspace.ParseAll(r.Keys)
	if err != nil {
		return nil, err
	}
	sr, err := p.SearchSpan(parsed, r.Index, max(r.Span, 1), r.Size)
	if err != nil {
		return nil, err
	}
	encode := query.Encode
	if !r.askedAt.IsZero() {
		encode = func(s query.Sort, h *search.DocumentMatch) (query.EncodedHit, error) {
			return query.EncodeDecoded(s, h, r.askedAt)
		}
	}
	digest := r.Digest || r.DigestSum
	if digest || r.Size == 0 {
		sr.Fields, sr.IncludeLocations = nil, false
		encode = query.EncodeDigest
	}
	st := r.Stats
	if st != nil && (st.Docs == 0 || st.TextTerms == 0) {
		st = nil
	}
	res, err := ix.SearchWithStats(ctx, sr, st)
	if err != nil {
		var bad *query.RequestError
		if err := query.SearchError(r.Query, err); errors.As(err, &bad) {
			return &Response{Refused: bad.Msg}, nil
		}
		return nil, err
	}
	out := &Response{Total: res.Total}
	if !digest {
		out.Hits = make([]query.EncodedHit, 0, len(res.Hits))
	}
	for _, h := range res.Hits {
		e, err := encode(p.Sort, h)
		if err != nil {
			continue
		}
		if digest {
			out.Digest = append(out.Digest, DigestEntry(e.Sort))
		} else {
			out.Hits = append(out.Hits, e)
		}
	}
	if r.DigestSum {
		out.DigestSum, out.Digest = cborwire.String(SumDigest(out.Digest)), nil
	}
	return out, nil
}
