package post

import "errors"

// Errors a caller branches on. Verify and New wrap them with detail, so test
// with errors.Is.
var (
	ErrEmpty        = errors.New("text is empty")
	ErrTooLong      = errors.New("text is longer than 1000 characters")
	ErrInvalidUTF8  = errors.New("text is not valid UTF-8")
	ErrBadField     = errors.New("invalid field")
	ErrBadID        = errors.New("id does not match the post's content")
	ErrBadSignature = errors.New("signature does not verify")
	ErrBadAuthor    = errors.New("author is not a valid ed25519 peer ID")
	ErrTooLarge     = errors.New("encoded record is too large")
	// ErrBadWork: the post's ID has fewer leading zero bits than the
	// proof of work it claims.
	ErrBadWork = errors.New("the post's ID does not carry the work it claims")
	// ErrNotAuthor refuses to delete a post another author wrote: only its
	// author's node can sign its tombstone.
	ErrNotAuthor = errors.New("only the author's node can delete a post")
)

// Invalid reports whether err says that a post, or a field of one, is not
// valid: the caller's input is at fault.
func Invalid(err error) bool {
	for _, e := range []error{ErrEmpty, ErrTooLong, ErrInvalidUTF8, ErrBadField, ErrBadID, ErrBadSignature, ErrBadAuthor, ErrTooLarge} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
