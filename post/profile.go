package post

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Bounds of a profile.
const (
	// MaxNameChars bounds a profile's display name, in code points.
	MaxNameChars = 50
	// MaxBioChars bounds a profile's bio, in code points.
	MaxBioChars = 300
)

// Profile is what an author says of themself: a display name and a short
// bio. It is signed by the author and placed at the owners of the
// author's profile key; a newer one replaces an older one. A name is not
// unique and proves nothing: pages show it beside the peer ID.
type Profile struct {
	// ID is the hex SHA-256 of the canonical encoding.
	ID string `json:"id"`
	// Author is the peer ID of the signing key.
	Author string `json:"author"`
	Name   string `json:"name"`
	Bio    string `json:"bio,omitempty"`
	// CreatedAt is when the profile was made, UTC, millisecond precision:
	// the newest wins.
	CreatedAt time.Time `json:"created_at"`
	Sig       []byte    `json:"sig"`
}

// SignProfile makes the author's profile with name and bio.
func SignProfile(key crypto.PrivKey, name, bio string, now time.Time) (*Profile, error) {
	author, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("derive author from key: %w", err)
	}
	p := &Profile{Author: author.String(), Name: strings.TrimSpace(name), Bio: strings.TrimSpace(bio), CreatedAt: now.UTC().Truncate(time.Millisecond)}
	if err := p.checkFields(); err != nil {
		return nil, err
	}
	enc := p.canonical()
	sig, err := key.Sign(enc)
	if err != nil {
		return nil, fmt.Errorf("sign profile: %w", err)
	}
	sum := sha256.Sum256(enc)
	p.ID, p.Sig = hex.EncodeToString(sum[:]), sig
	return p, nil
}

// checkFields checks what any profile must be: a name of one line, a bio,
// both within their bounds, no control characters but the bio's line
// breaks, and a name that does not pass for a peer ID.
func (p *Profile) checkFields() error {
	switch {
	case p.Name == "" || !utf8.ValidString(p.Name) || utf8.RuneCountInString(p.Name) > MaxNameChars:
		return fmt.Errorf("%w: name must be 1 to %d characters of UTF-8", ErrBadField, MaxNameChars)
	case !utf8.ValidString(p.Bio) || utf8.RuneCountInString(p.Bio) > MaxBioChars:
		return fmt.Errorf("%w: bio must be at most %d characters of UTF-8", ErrBadField, MaxBioChars)
	case strings.IndexFunc(p.Name, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: name must be one line without control characters", ErrBadField)
	case strings.IndexFunc(p.Bio, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) >= 0:
		return fmt.Errorf("%w: bio must have no control characters but line breaks", ErrBadField)
	case LooksLikePeerID(p.Name):
		return fmt.Errorf("%w: name %q looks like a peer ID; a name that looks like a signer would pass for that author", ErrBadField, p.Name)
	case p.CreatedAt.UnixMilli()*int64(time.Millisecond) != p.CreatedAt.UnixNano():
		return fmt.Errorf("%w: created_at has precision finer than a millisecond", ErrBadField)
	}
	return nil
}

func (p *Profile) canonical() []byte {
	var b bytes.Buffer
	b.WriteString(profileDomain)
	writeField(&b, []byte(p.Author))
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(p.CreatedAt.UnixMilli()))
	writeField(&b, ms[:])
	writeField(&b, []byte(p.Name))
	writeField(&b, []byte(p.Bio))
	return b.Bytes()
}

// Verify checks the profile's fields, ID and signature.
func (p *Profile) Verify() error {
	if err := p.checkFields(); err != nil {
		return err
	}
	return verifySigned(p.ID, p.Author, p.Sig, p.canonical())
}

// Newer reports whether p replaces q: made later, or at the same
// millisecond with a greater ID, so that every node keeps the same one.
func (p *Profile) Newer(q *Profile) bool {
	if c := p.CreatedAt.Compare(q.CreatedAt); c != 0 {
		return c > 0
	}
	return p.ID > q.ID
}

// DecodeProfile parses and verifies a profile's JSON encoding.
func DecodeProfile(data []byte) (*Profile, error) {
	if len(data) > MaxEncodedSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), MaxEncodedSize)
	}
	var p Profile
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("decode profile: %w", err)
	}
	if err := p.Verify(); err != nil {
		return nil, fmt.Errorf("profile %.16s: %w", p.ID, err)
	}
	return &p, nil
}
