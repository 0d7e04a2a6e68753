package post

import (
	"bytes"
	"fmt"
	"time"
	"unsafe"

	lru "github.com/hashicorp/golang-lru/v2"
)

// DecodedCacheSize is how many encoded posts a process keeps decoded. An
// entry holds the encoding and the post, about twice a post's size: a
// kilobyte for most, so about 4 MB.
const DecodedCacheSize = 1 << 12

// decoded keeps posts that decoded and verified, keyed by their exact
// encoding. The same bytes always decode to the same post, so a search hit
// whose bytes were decoded before (a hot post on many pages, an owner's
// answer to a search repeated) needs no JSON decoding, canonical
// re-encoding or hashing again: only the checks that depend on the time.
var decoded, _ = lru.New[string, *Post](DecodedCacheSize)

// DecodeCached is Decode for posts that may have been decoded before, such
// as search hits. It returns a post of its own, which the caller may
// change.
func DecodeCached(data []byte, now time.Time) (*Post, error) {
	// The lookup's key is data itself, not a copy: Get keeps no key.
	return decodeCached(unsafe.String(unsafe.SliceData(data), len(data)), data, now)
}

// DecodeCachedString is DecodeCached for an encoding held as a string (a
// stored field of the index): it copies the string only to decode it on a
// miss.
func DecodeCachedString(data string, now time.Time) (*Post, error) {
	return decodeCached(data, nil, now)
}

// decodeCached looks key, a post's encoding, up among the posts kept
// decoded, and decodes and keeps it when it is not there. data is key's
// bytes, which key may share (then it is copied to be kept), or nil when
// key is a string of its own (then it is copied to be decoded).
func decodeCached(key string, data []byte, now time.Time) (*Post, error) {
	if len(key) > MaxEncodedSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(key), MaxEncodedSize)
	}
	if p, ok := decoded.Get(key); ok {
		// The same bytes passed every check of the fields once; only the
		// one that depends on the clock (a post dated ahead of it) may
		// come out otherwise now.
		if err := p.checkTime(now); err != nil {
			return nil, fmt.Errorf("post %.16s: %w", p.ID, err)
		}
		return p.copy(), nil
	}
	keep := key
	if data == nil {
		data = []byte(key)
	} else {
		keep = string(data)
	}
	p, err := Decode(data, now)
	if err != nil {
		return nil, err
	}
	decoded.Add(keep, p.copy())
	return p, nil
}

// ForgetDecoded empties the posts kept decoded. Benchmarks use it to
// measure the cold path.
func ForgetDecoded() { decoded.Purge() }

func (p *Post) copy() *Post {
	cp := *p
	cp.Sig = bytes.Clone(p.Sig)
	return &cp
}
