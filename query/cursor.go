package query

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"
)

// cursorVersion versions the cursor encoding.
const cursorVersion = 1

// maxCursorBytes bounds the cursor accepted from a client.
const maxCursorBytes = 1024

// cursor is the decoded form of Result.NextCursor: the sort values of the
// last hit returned, bound to the query and sort that produced them.
type cursor struct {
	V int      `json:"v"`
	H string   `json:"h"`
	A []string `json:"a"`
}

// queryHash binds a cursor to the normalized query (filters included) and
// sort order.
func queryHash(normalized string, s Sort) string {
	sum := sha256.Sum256([]byte(string(s) + "\n" + normalized))
	return hex.EncodeToString(sum[:8])
}

func encodeCursor(hash string, after []string) string {
	b, err := json.Marshal(cursor{V: cursorVersion, H: hash, A: after})
	if err != nil {
		return "" // cannot happen: strings only
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor checks a client's cursor against the current query and sort
// and returns the SearchAfter values it carries.
func decodeCursor(s, hash string, sort Sort) ([]string, error) {
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
	// Check the values so bleve never sees malformed ones.
	switch sort {
	case SortLatest:
		if _, err := time.Parse(time.RFC3339Nano, c.A[0]); err != nil {
			return nil, &RequestError{Msg: "cursor is not valid"}
		}
	default:
		if _, err := strconv.ParseFloat(c.A[0], 64); err != nil {
			return nil, &RequestError{Msg: "cursor is not valid"}
		}
	}
	return c.A, nil
}
