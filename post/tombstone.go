package post

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Tombstone deletes a post. It is signed by the post's author and travels like
// a post; a node that holds it refuses the target from then on.
type Tombstone struct {
	// ID is the hex SHA-256 of the canonical encoding.
	ID string `json:"id"`
	// Target is the ID of the deleted post.
	Target string `json:"target"`
	// Author is the peer ID of the target's author, who signs the tombstone.
	Author string `json:"author"`
	// CreatedAt is when the deletion was made, UTC, millisecond precision.
	CreatedAt time.Time `json:"created_at"`
	// Sig is the author's signature of the canonical encoding.
	Sig []byte `json:"sig"`
}

// SignTombstone makes the tombstone of the post with ID target.
func SignTombstone(key crypto.PrivKey, target string, now time.Time) (*Tombstone, error) {
	if !ValidID(target) {
		return nil, fmt.Errorf("%w: target must be a post ID", ErrBadField)
	}
	author, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("derive author from key: %w", err)
	}
	t := &Tombstone{Target: target, Author: author.String(), CreatedAt: now.UTC().Truncate(time.Millisecond)}
	enc := t.canonical()
	sig, err := key.Sign(enc)
	if err != nil {
		return nil, fmt.Errorf("sign tombstone: %w", err)
	}
	sum := sha256.Sum256(enc)
	t.ID, t.Sig = hex.EncodeToString(sum[:]), sig
	return t, nil
}

func (t *Tombstone) canonical() []byte {
	var b bytes.Buffer
	b.WriteString(tombstoneDomain)
	writeField(&b, []byte(t.Author))
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.CreatedAt.UnixMilli()))
	writeField(&b, ms[:])
	writeField(&b, []byte(t.Target))
	return b.Bytes()
}

// Verify checks the tombstone's form, ID and signature.
func (t *Tombstone) Verify() error {
	if !ValidID(t.Target) {
		return fmt.Errorf("%w: target must be a post ID", ErrBadField)
	}
	if t.CreatedAt.UnixMilli()*int64(time.Millisecond) != t.CreatedAt.UnixNano() {
		return fmt.Errorf("%w: created_at has precision finer than a millisecond", ErrBadField)
	}
	return verifySigned(t.ID, t.Author, t.Sig, t.canonical())
}

// Deletes reports whether t is a valid deletion of p: same author, p's ID.
func (t *Tombstone) Deletes(p *Post) bool {
	return t.Target == p.ID && t.Author == p.Author
}

// DecodeTombstone parses and verifies a tombstone's JSON encoding.
func DecodeTombstone(data []byte) (*Tombstone, error) {
	if len(data) > MaxEncodedSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), MaxEncodedSize)
	}
	var t Tombstone
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("decode tombstone: %w", err)
	}
	if err := t.Verify(); err != nil {
		return nil, fmt.Errorf("tombstone %.16s: %w", t.ID, err)
	}
	return &t, nil
}
