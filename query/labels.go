package query

import (
	"sort"
	"strings"

	"github.com/murmur-p2p/murmur/index"
)

// LabelSigners names, for one from:LABEL clause of a query, the signers of
// the page's posts that carry the label. A label is a name a signer gave a
// post (an import's or a crawl's author), not a signature: any signer can
// give any name, so a search for a label says whose labels it found.
type LabelSigners struct {
	Label   string
	Signers []SignerPosts
}

// SignerPosts is one signer and how many posts of the page it signed.
type SignerPosts struct {
	Signer string
	Posts  int
}

// LabelSignersOf lists, for each label the query q asks for with from:,
// the signers of the hits that carry it, most posts first. It is empty for
// a query without from:LABEL (or one that does not parse).
func LabelSignersOf(q string, hits []Hit) []LabelSigners {
	pq, err := parseRequest(Request{Q: q}, SortTop)
	if err != nil {
		return nil
	}
	var labels []string
	positiveLeaves(pq.expr, func(n Expr) {
		if t, ok := n.(*Term); ok && t.Field == index.FieldLabel {
			labels = append(labels, t.Term)
		}
	})
	var out []LabelSigners
	for _, l := range labels {
		counts := map[string]int{}
		for _, h := range hits {
			if strings.ToLower(h.Post.Label) == l {
				counts[h.Post.Author]++
			}
		}
		ls := LabelSigners{Label: l}
		for s, n := range counts {
			ls.Signers = append(ls.Signers, SignerPosts{Signer: s, Posts: n})
		}
		sort.Slice(ls.Signers, func(i, j int) bool {
			a, b := ls.Signers[i], ls.Signers[j]
			return a.Posts > b.Posts || a.Posts == b.Posts && a.Signer < b.Signer
		})
		out = append(out, ls)
	}
	return out
}
