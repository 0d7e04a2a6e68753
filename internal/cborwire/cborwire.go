// Package cborwire is the CBOR encoding (RFC 8949) of murmur's search and
// stats messages: their fields as small integer keys (the messages' cbor
// struct tags), floats in the shortest form that keeps their value, and a
// decoder within bounds no honest message comes near.
package cborwire

import "github.com/fxamacker/cbor/v2"

// Bounds of a decoded message. The largest arrays of an honest message are
// a page of netsearch.MaxSize hits and a summary's owner groups; the
// callers' own checks bound each message further, after decoding, and
// these keep a declared length from allocating beyond what those checks
// would refuse.
const (
	// MaxArray bounds every array.
	MaxArray = 4096
	// MaxMap bounds every map, structs included.
	MaxMap = 1024
	// MaxDepth bounds nesting: the deepest message (a stats answer's
	// summary) is five levels deep.
	MaxDepth = 16
)

var (
	encoding = func() cbor.EncMode {
		em, err := cbor.EncOptions{ShortestFloat: cbor.ShortestFloat16}.EncMode()
		if err != nil {
			panic(err)
		}
		return em
	}()
	// decoding refuses duplicate map keys, indefinite lengths and tags: a
	// message has one encoding.
	decoding = func() cbor.DecMode {
		dm, err := cbor.DecOptions{
			DupMapKey:        cbor.DupMapKeyEnforcedAPF,
			MaxNestedLevels:  MaxDepth,
			MaxArrayElements: MaxArray,
			MaxMapPairs:      MaxMap,
			IndefLength:      cbor.IndefLengthForbidden,
			TagsMd:           cbor.TagsForbidden,
		}.DecMode()
		if err != nil {
			panic(err)
		}
		return dm
	}()
)

// Marshal encodes v.
func Marshal(v any) ([]byte, error) { return encoding.Marshal(v) }

// Unmarshal decodes body, one whole CBOR item and nothing after it, into
// v, within the bounds above.
func Unmarshal(body []byte, v any) error { return decoding.Unmarshal(body, v) }
