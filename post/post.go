package post

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/bits"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Domain-separation prefixes of the canonical encodings. They version the
// encoding: a change to the field set is a new prefix.
const (
	postDomain      = "murmur/post/1\n"
	workPostDomain  = "murmur/post/2\n" // a post that carries proof of work
	tombstoneDomain = "murmur/tombstone/1\n"
	profileDomain   = "murmur/profile/1\n"
)

// Post is one signed, immutable microblog post.
type Post struct {
	// ID is the hex SHA-256 of the canonical encoding.
	ID string `json:"id"`
	// Author is the libp2p peer ID of the signing key.
	Author string `json:"author"`
	// Text is the body, 1 to MaxTextChars code points of valid UTF-8.
	Text string `json:"text"`
	// CreatedAt is when the post was written, in UTC with millisecond precision.
	CreatedAt time.Time `json:"created_at"`
	// ReplyTo is the ID of the post this one answers, if any.
	ReplyTo string `json:"reply_to,omitempty"`
	// Lang is an optional BCP 47 language tag, lower case ("en", "pt-br").
	Lang string `json:"lang,omitempty"`
	// Label is an optional human name of the original author, kept by imports
	// and crawls, whose posts the node signs on the author's behalf.
	Label string `json:"label,omitempty"`
	// Source is the URL a crawled post came from.
	Source string `json:"source,omitempty"`
	// Work is the proof of work the author committed to: the ID (the hash
	// of the canonical encoding, which holds Work and Nonce) begins with at
	// least Work zero bits, which took about 2^Work hashes to find (Nostr's
	// NIP-13). Zero for a post that claims none.
	Work int `json:"work,omitempty"`
	// Nonce is what the author varied to find such an ID.
	Nonce uint64 `json:"nonce,omitempty"`
	// Sig is the author's ed25519 signature of the canonical encoding.
	Sig []byte `json:"sig"`
}

// Draft is what a writer supplies; Sign turns it into a Post.
type Draft struct {
	Text      string
	CreatedAt time.Time // zero means now
	ReplyTo   string
	Lang      string
	Label     string
	Source    string
}

var (
	idPattern   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	langPattern = regexp.MustCompile(`^[a-z]{2,3}(-[a-z0-9]{1,8})*$`)
)

// NormalizeLang lower-cases a language tag and turns '_' into '-', so "pt_BR"
// and "pt-br" are one language.
func NormalizeLang(s string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-")
}

// LooksLikePeerID reports whether s reads as a libp2p peer ID (the forms a
// node's ID takes: 12D3KooW... for ed25519, Qm... for others), which a
// label must not: from: takes such a value for a signer, and a reader for
// the author.
func LooksLikePeerID(s string) bool {
	if strings.HasPrefix(s, "12D3") || strings.HasPrefix(s, "Qm") {
		return true
	}
	_, err := peer.Decode(s)
	return err == nil
}

// ValidID reports whether s has the form of a record ID.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// Sign checks a draft against the limits and signs it with key.
func Sign(key crypto.PrivKey, d Draft, now time.Time) (*Post, error) {
	return SignWork(context.Background(), key, d, now, 0)
}

// SignWork is Sign with a proof of work of bits: it tries nonces until the
// post's ID begins with bits zero bits (about 2^bits hashes of the
// encoding, 1 µs each), then signs. It stops with ctx.
func SignWork(ctx context.Context, key crypto.PrivKey, d Draft, now time.Time, bits int) (*Post, error) {
	if bits < 0 || bits > MaxWork {
		return nil, fmt.Errorf("%w: proof of work of %d bits is outside 0..%d", ErrBadField, bits, MaxWork)
	}
	author, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("derive author from key: %w", err)
	}
	created := d.CreatedAt
	if created.IsZero() {
		created = now
	}
	p := &Post{
		Author:    author.String(),
		Text:      d.Text,
		CreatedAt: created.UTC().Truncate(time.Millisecond),
		ReplyTo:   d.ReplyTo,
		Lang:      NormalizeLang(d.Lang),
		Label:     strings.TrimSpace(d.Label),
		Source:    d.Source,
	}
	if err := p.checkFields(now); err != nil {
		return nil, err
	}
	if LooksLikePeerID(p.Label) {
		return nil, fmt.Errorf("%w: label %q looks like a peer ID; a label is a name, and one that looks like a signer would pass for that author", ErrBadField, p.Label)
	}
	p.Work = bits
	enc := p.canonical()
	sum := sha256.Sum256(enc)
	for zeroBits(sum[:]) < bits {
		if p.Nonce%4096 == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("proof of work: %w", ctx.Err())
		}
		p.Nonce++
		binary.BigEndian.PutUint64(enc[len(enc)-8:], p.Nonce)
		sum = sha256.Sum256(enc)
	}
	sig, err := key.Sign(enc)
	if err != nil {
		return nil, fmt.Errorf("sign post: %w", err)
	}
	p.ID = hex.EncodeToString(sum[:])
	p.Sig = sig
	return p, nil
}

// checkFields enforces the limits on every field but ID and Sig.
func (p *Post) checkFields(now time.Time) error {
	if !utf8.ValidString(p.Text) {
		return ErrInvalidUTF8
	}
	if strings.TrimSpace(p.Text) == "" {
		return ErrEmpty
	}
	if n := utf8.RuneCountInString(p.Text); n > MaxTextChars {
		return fmt.Errorf("%w (it has %d)", ErrTooLong, n)
	}
	if p.ReplyTo != "" && !ValidID(p.ReplyTo) {
		return fmt.Errorf("%w: reply_to must be a post ID (64 hex digits)", ErrBadField)
	}
	if p.Lang != "" && (len(p.Lang) > MaxLangLen || !langPattern.MatchString(p.Lang)) {
		return fmt.Errorf("%w: lang %q is not a language tag such as \"en\" or \"pt-br\"", ErrBadField, p.Lang)
	}
	if len(p.Label) > MaxLabelLen || !utf8.ValidString(p.Label) || strings.ContainsAny(p.Label, "\n\r\x00") {
		return fmt.Errorf("%w: label must be one line of at most %d bytes of UTF-8", ErrBadField, MaxLabelLen)
	}
	if len(p.Source) > MaxSourceLen || !utf8.ValidString(p.Source) || strings.ContainsAny(p.Source, " \n\r\x00") {
		return fmt.Errorf("%w: source must be a URL of at most %d bytes", ErrBadField, MaxSourceLen)
	}
	if p.Work < 0 || p.Work > MaxWork || p.Work == 0 && p.Nonce != 0 {
		return fmt.Errorf("%w: work must be 0 to %d bits, with a nonce only when above 0", ErrBadField, MaxWork)
	}
	if p.CreatedAt.IsZero() || p.CreatedAt.Before(time.Unix(0, 0)) {
		return fmt.Errorf("%w: created_at is missing or before 1970", ErrBadField)
	}
	return p.checkTime(now)
}

// checkTime is the one check of checkFields whose outcome depends on now.
func (p *Post) checkTime(now time.Time) error {
	if p.CreatedAt.After(now.Add(MaxFutureSkew * time.Second)) {
		return fmt.Errorf("%w: created_at %s is in the future", ErrBadField, p.CreatedAt.Format(time.RFC3339))
	}
	return nil
}

// canonical is the byte string that is hashed into the ID and signed: the
// domain prefix, then each field as a uvarint length and its bytes, in a fixed
// order. created_at is Unix milliseconds. A post with proof of work has its
// own prefix and ends with the work (one byte) and the nonce (8 bytes, big
// endian, last so that a search for it rewrites only them).
func (p *Post) canonical() []byte {
	var b bytes.Buffer
	if p.Work > 0 {
		b.WriteString(workPostDomain)
	} else {
		b.WriteString(postDomain)
	}
	writeField(&b, []byte(p.Author))
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(p.CreatedAt.UnixMilli()))
	writeField(&b, ms[:])
	writeField(&b, []byte(p.Text))
	writeField(&b, []byte(p.ReplyTo))
	writeField(&b, []byte(p.Lang))
	writeField(&b, []byte(p.Label))
	writeField(&b, []byte(p.Source))
	if p.Work > 0 {
		b.WriteByte(byte(p.Work))
		var nonce [8]byte
		binary.BigEndian.PutUint64(nonce[:], p.Nonce)
		b.Write(nonce[:])
	}
	return b.Bytes()
}

// zeroBits counts the leading zero bits of b.
func zeroBits(b []byte) int {
	n := 0
	for _, x := range b {
		if x != 0 {
			return n + bits.LeadingZeros8(x)
		}
		n += 8
	}
	return n
}

func writeField(b *bytes.Buffer, v []byte) {
	b.Write(binary.AppendUvarint(nil, uint64(len(v))))
	b.Write(v)
}

// Verify checks that the post keeps every limit, that its ID is the hash of
// its content and that its author signed it. now bounds created_at.
func (p *Post) Verify(now time.Time) error {
	if p.CreatedAt.UnixMilli()*int64(time.Millisecond) != p.CreatedAt.UnixNano() {
		return fmt.Errorf("%w: created_at has precision finer than a millisecond", ErrBadField)
	}
	if err := p.checkFields(now); err != nil {
		return err
	}
	if err := verifySignedOnce(p.ID, p.Author, p.Sig, p.canonical()); err != nil {
		return err
	}
	if p.Work > 0 {
		if sum, _ := hex.DecodeString(p.ID); zeroBits(sum) < p.Work {
			return fmt.Errorf("%w: %d bits claimed", ErrBadWork, p.Work)
		}
	}
	return nil
}

func verifySigned(id, author string, sig, enc []byte) error {
	pub, err := authorKey(author)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(enc)
	if id != hex.EncodeToString(sum[:]) {
		return ErrBadID
	}
	signatureChecks.Add(1)
	ok, err := pub.Verify(enc, sig)
	if err != nil || !ok {
		return ErrBadSignature
	}
	return nil
}

func authorKey(author string) (crypto.PubKey, error) {
	pid, err := peer.Decode(author)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadAuthor, err)
	}
	pub, err := pid.ExtractPublicKey()
	if err != nil || pub.Type() != crypto.Ed25519 {
		return nil, ErrBadAuthor
	}
	return pub, nil
}

// Decode parses one post from its JSON encoding and verifies it. It refuses
// input over MaxEncodedSize before parsing.
func Decode(data []byte, now time.Time) (*Post, error) {
	if len(data) > MaxEncodedSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), MaxEncodedSize)
	}
	var p Post
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("decode post: %w", err)
	}
	if err := p.Verify(now); err != nil {
		return nil, fmt.Errorf("post %.16s: %w", p.ID, err)
	}
	return &p, nil
}
