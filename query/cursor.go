package query

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/murmur-p2p/murmur/index"
)

// cursorVersion versions the cursor encoding.
const cursorVersion = 1

// maxCursorBytes bounds the cursor accepted from a client: room for the
// sort values and the statistics of MaxClauses terms.
const maxCursorBytes = 4096

// cursor is the decoded form of Result.NextCursor: the sort values of the
// last hit returned, bound to the query and sort that produced them, and
// for a network search the statistics its pages are scored with: the
// document count, the text terms and the document frequency of each of the
// query's positive terms, in order.
type cursor struct {
	V int      `json:"v"`
	H string   `json:"h"`
	A []string `json:"a"`
	S []uint64 `json:"s,omitempty"`
	R string   `json:"r,omitempty"` // Prepared.Ranking
}

// stats rebuilds the statistics of a network cursor; nil for a local one or
// one that does not fit the query's terms.
func (c *cursor) stats(terms []string) *index.Stats {
	if len(c.S) != 2+len(terms) || c.S[0] == 0 || c.S[1] == 0 {
		return nil
	}
	st := &index.Stats{Docs: c.S[0], TextTerms: c.S[1], DocFreq: make(map[string]uint64, len(terms))}
	for i, t := range terms {
		st.DocFreq[t] = c.S[2+i]
	}
	return st
}

// queryHash binds a cursor to the normalized query (filters included) and
// sort order.
func queryHash(normalized string, s Sort) string {
	sum := sha256.Sum256([]byte(string(s) + "\n" + normalized))
	return hex.EncodeToString(sum[:8])
}

func encodeCursor(hash string, after []string, st *index.Stats, terms []string, ranking string) string {
	c := cursor{V: cursorVersion, H: hash, A: after, R: ranking}
	if st != nil {
		c.S = append(c.S, st.Docs, st.TextTerms)
		for _, t := range terms {
			c.S = append(c.S, st.DocFreq[t])
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "" // cannot happen: strings only
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor checks a client's cursor against the current query and sort
// and returns the SearchAfter values it carries.
func decodeCursor(s, hash string, sort Sort) (*cursor, error) {
	if len(s) > maxCursorBytes {
		return nil, &RequestError{Msg: "cursor is not valid: too long"}
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, &RequestError{Msg: "cursor is not valid"}
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.V != cursorVersion || len(c.A) != 2 {
		return nil, &RequestError{Msg: "cursor is not valid"}
	}
	if c.H != hash {
		return nil, &RequestError{Msg: "cursor belongs to a different query or sort"}
	}
	if err := CheckAfter(sort, c.A); err != nil {
		return nil, &RequestError{Msg: "cursor is not valid"}
	}
	switch c.R {
	case "", RankingNetwork, RankingPartial, RankingLastGood, RankingLocal:
	default:
		return nil, &RequestError{Msg: "cursor is not valid"}
	}
	return &c, nil
}

// CheckAfter checks search-after values before bleve sees them: none, or a
// score (or creation time, for SortLatest) and a post ID.
func CheckAfter(sort Sort, after []string) error {
	if after == nil {
		return nil
	}
	if len(after) != 2 || len(after[1]) > 128 {
		return errors.New("search-after needs a sort value and an ID")
	}
	switch sort {
	case SortLatest:
		if _, err := time.Parse(time.RFC3339Nano, after[0]); err != nil {
			return fmt.Errorf("search-after time: %w", err)
		}
	default:
		f, err := strconv.ParseFloat(after[0], 64)
		if err != nil || math.IsNaN(f) {
			return fmt.Errorf("search-after score %q is not a number", after[0])
		}
	}
	return nil
}
