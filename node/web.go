package node

import (
	"context"
	"fmt"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	bleveQuery "github.com/blevesearch/bleve/v2/search/query"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/post"
)

// MaxReplies bounds how many replies one call to Replies returns.
const MaxReplies = 200

// Replies returns up to limit stored posts that answer the post id, oldest
// first, from the local index. The query language has no reply_to: operator,
// so the web page asks the node directly; on a network a node holds the
// replies it stores, not every reply in the network.
func (n *Node) Replies(ctx context.Context, id string, limit int) ([]*post.Post, error) {
	if !post.ValidID(id) {
		return nil, fmt.Errorf("%w: %q is not a post ID (64 hex digits)", post.ErrBadField, id)
	}
	if limit <= 0 || limit > MaxReplies {
		limit = MaxReplies
	}
	q := bleveQuery.NewTermQuery(id)
	q.SetField(index.FieldReplyTo)
	sr := bleve.NewSearchRequestOptions(q, limit, 0, false)
	sr.Fields = []string{index.FieldPost}
	sr.SortByCustom(search.SortOrder{
		&search.SortField{Field: index.FieldCreatedAt, Type: search.SortFieldAsDate, Mode: search.SortFieldDefault, Missing: search.SortFieldMissingLast},
		&search.SortDocID{},
	})
	res, err := n.index.Search(ctx, sr)
	if err != nil {
		return nil, fmt.Errorf("search replies to %s: %w", id, err)
	}
	now := time.Now()
	out := make([]*post.Post, 0, len(res.Hits))
	for _, h := range res.Hits {
		raw, ok := h.Fields[index.FieldPost].(string)
		if !ok {
			continue
		}
		p, err := post.Decode([]byte(raw), now)
		if err != nil {
			n.log.Warn("stored reply does not verify", "post", h.ID, "err", err)
			continue
		}
		out = append(out, p)
	}
	return out, nil
}
