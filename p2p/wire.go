package p2p

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/libp2p/go-msgio"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/live"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// Messages of murmur's protocols. Each stream carries one request and one
// response, each a uvarint length prefix and a body of at most
// MaxMessageSize bytes: JSON, or CBOR on the protocols codecFor names.

// storeRequest asks an owner to store posts under keys and to apply
// tombstones.
type storeRequest struct {
	Posts      []storeItem       `json:"posts,omitempty"`
	Tombstones []json.RawMessage `json:"tombstones,omitempty"`
	// Profiles are signed profiles for the owners of their authors'
	// profile keys.
	Profiles []json.RawMessage `json:"profiles,omitempty"`
}

// storeItem is one signed post (its canonical JSON) and the keys the sender
// places it under at this owner.
type storeItem struct {
	Post json.RawMessage `json:"post"`
	Keys []string        `json:"keys"`
}

// storeResponse answers a storeRequest item by item, in order.
type storeResponse struct {
	Posts      []storeResult `json:"posts"`
	Tombstones []string      `json:"tombstones"`         // "" when applied, else why not
	Profiles   []string      `json:"profiles,omitempty"` // "" when kept or older than the one kept, else why not
}

// storeResult is the owner's answer for one post: Error when it refused the
// post, with Reason (a metrics.Refused* value) when it refused it as a
// bound; otherwise every key but BadKeys (keys the post does not have) and
// NotOwned (keys this node does not own) is acknowledged. Deleted carries
// the tombstone of a post its author deleted, so the sender can apply it
// too.
type storeResult struct {
	Error    string          `json:"error,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	BadKeys  []string        `json:"bad_keys,omitempty"`
	NotOwned []string        `json:"not_owned,omitempty"`
	Deleted  json.RawMessage `json:"deleted,omitempty"`
	// Split names the keys the post was sent under that this owner knows
	// are split roots (docs/split-keys.md): a writer that does not know
	// the split looks the record up from the roots' owners, and places
	// its next posts of the term at their leaves.
	Split []string `json:"split,omitempty"`
}

// syncRequest is one step of repair: either a batch of key digests to
// compare, or the IDs the sender holds under some keys.
type syncRequest struct {
	Digests []Digest `json:"digests,omitempty"`
	Lists   []KeyIDs `json:"lists,omitempty"`
}

// Digest summarizes the posts a node holds under a key.
type Digest struct {
	Key    string `json:"k"`
	Count  int    `json:"n"`
	Digest string `json:"d"` // hex of the XOR of the post IDs' bytes
}

// KeyIDs is a list of post IDs under one key.
type KeyIDs struct {
	Key string   `json:"k"`
	IDs []string `json:"ids"`
}

// syncResponse answers a syncRequest: the responder's own digests of the
// keys whose digests differ, or, per key, the IDs it lacks, and the
// tombstones of those it knows are deleted.
type syncResponse struct {
	Differ  []Digest          `json:"differ,omitempty"`
	Missing []KeyIDs          `json:"missing,omitempty"`
	Deleted []json.RawMessage `json:"deleted,omitempty"`
}

// ErrMessageTooLarge is returned for a message over MaxMessageSize.
var ErrMessageTooLarge = errors.New("message too large")

func checkStatsResponse(m *statsResponse) error {
	if len(m.Counts) > netsearch.MaxStatsTerms {
		return fmt.Errorf("stats answer with %d counts, limit %d", len(m.Counts), netsearch.MaxStatsTerms)
	}
	if len(m.Profiles) > MaxProfilesPerRequest {
		return fmt.Errorf("stats answer with %d profiles, limit %d", len(m.Profiles), MaxProfilesPerRequest)
	}
	if err := netsearch.CheckCounts(m.Counts); err != nil {
		return err
	}
	if len(m.Splits) > netsearch.MaxStatsTerms {
		return fmt.Errorf("stats answer with %d split records, limit %d", len(m.Splits), netsearch.MaxStatsTerms)
	}
	for _, sp := range m.Splits {
		if sp == nil {
			continue
		}
		if err := sp.Check(); err != nil {
			return fmt.Errorf("%w: %w", netsearch.ErrImplausible, err)
		}
		counts := []int{sp.Residual}
		for _, b := range sp.Buckets {
			counts = append(counts, b.Count)
		}
		if err := netsearch.CheckCounts(append(counts, sp.Total())); err != nil {
			return err
		}
	}
	if m.Summary != nil {
		return netsearch.CheckSummary(m.Summary)
	}
	return nil
}

// writeMessage writes v as one length-prefixed message, in the codec of
// w's protocol (streamCodec).
func writeMessage(w io.Writer, v any) (int, error) {
	body, err := encodeWith(streamCodec(w), v)
	if err != nil {
		return 0, err
	}
	return writeBody(w, body)
}

// encodeMessage is v's JSON body as writeMessage sends it on a protocol
// of JSON bodies, refused when over MaxMessageSize.
func encodeMessage(v any) ([]byte, error) { return encodeWith(jsonCodec{}, v) }

// encodeWith is v's body in codec c, refused when over MaxMessageSize.
func encodeWith(c codec, v any) ([]byte, error) {
	body, err := c.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	if len(body) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, len(body), MaxMessageSize)
	}
	return body, nil
}

// writeBody writes an encoded body as one length-prefixed message.
func writeBody(w io.Writer, body []byte) (int, error) {
	if err := msgio.NewVarintWriter(w).WriteMsg(body); err != nil {
		return 0, fmt.Errorf("write message: %w", err)
	}
	return len(body), nil
}

// readMessage reads one length-prefixed message of at most MaxMessageSize
// bytes into v, in the codec of r's protocol (streamCodec).
func readMessage(r io.Reader, v any) (int, error) {
	rd := msgio.NewVarintReaderSize(r, MaxMessageSize)
	body, err := rd.ReadMsg()
	if err != nil {
		if errors.Is(err, msgio.ErrMsgTooLarge) {
			return 0, fmt.Errorf("%w (limit %d)", ErrMessageTooLarge, MaxMessageSize)
		}
		return 0, fmt.Errorf("read message: %w", err)
	}
	defer rd.ReleaseMsg(body)
	if err := decodeWith(streamCodec(r), body, v); err != nil {
		return len(body), err
	}
	return len(body), nil
}

// decodeMessage decodes and bounds one JSON message body.
func decodeMessage(body []byte, v any) error { return decodeWith(jsonCodec{}, body, v) }

// decodeWith decodes one message body in codec c and bounds it. It is the
// entry point of every byte a peer sends on murmur's own protocols (see
// the fuzz tests).
func decodeWith(c codec, body []byte, v any) error {
	if err := c.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode message: %w", err)
	}
	switch m := v.(type) {
	case *storeRequest:
		if len(m.Posts) > MaxPostsPerStore {
			return fmt.Errorf("store request with %d posts, limit %d", len(m.Posts), MaxPostsPerStore)
		}
		if len(m.Tombstones) > MaxPostsPerStore {
			return fmt.Errorf("store request with %d tombstones, limit %d", len(m.Tombstones), MaxPostsPerStore)
		}
		if len(m.Profiles) > MaxProfilesPerRequest {
			return fmt.Errorf("store request with %d profiles, limit %d", len(m.Profiles), MaxProfilesPerRequest)
		}
		for i, it := range m.Posts {
			if len(it.Keys) == 0 || len(it.Keys) > MaxKeysPerPost {
				return fmt.Errorf("store request item %d has %d keys; want 1 to %d", i, len(it.Keys), MaxKeysPerPost)
			}
		}
	case *syncRequest:
		if len(m.Digests) > MaxDigestsPerSync {
			return fmt.Errorf("sync request with %d digests, limit %d", len(m.Digests), MaxDigestsPerSync)
		}
		ids := 0
		for _, l := range m.Lists {
			ids += len(l.IDs)
		}
		if ids > MaxIDsPerSync || len(m.Lists) > MaxIDsPerSync {
			return fmt.Errorf("sync request with %d IDs in %d lists, limit %d", ids, len(m.Lists), MaxIDsPerSync)
		}
		if (len(m.Digests) > 0) == (len(m.Lists) > 0) {
			return errors.New("sync request must carry either digests or ID lists")
		}
	case *netsearch.Request:
		return netsearch.CheckRequest(m)
	case *netsearch.Response:
		return netsearch.CheckResponse(m, netsearch.MaxSize, keyspace.HotShards)
	case *statsRequest:
		if len(m.Keys) > netsearch.MaxStatsTerms {
			return fmt.Errorf("stats request with %d keys, limit %d", len(m.Keys), netsearch.MaxStatsTerms)
		}
		if len(m.Profiles) > MaxProfilesPerRequest {
			return fmt.Errorf("stats request with %d profiles, limit %d", len(m.Profiles), MaxProfilesPerRequest)
		}
	case *statsResponse:
		return checkStatsResponse(m)
	case *live.Request:
		return m.Check()
	case *dialbackRequest:
		return m.check()
	case *dialbackResponse:
		return m.check()
	case *live.Accepted:
		return m.Check()
	case *live.Push:
		return m.Check()
	case *storeResponse, *syncResponse:
	default:
		return fmt.Errorf("decode message: unknown type %T", v)
	}
	return nil
}
