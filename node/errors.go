package node

import (
	"errors"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/post"
)

// reason maps an error to a bounded metric label.
func reason(err error) string {
	switch {
	case errors.Is(err, post.ErrEmpty):
		return metrics.ReasonEmpty
	case errors.Is(err, post.ErrTooLong):
		return metrics.ReasonTooLong
	case errors.Is(err, post.ErrInvalidUTF8):
		return metrics.ReasonInvalidUTF8
	case errors.Is(err, post.ErrBadField):
		return metrics.ReasonBadField
	case errors.Is(err, post.ErrBadSignature), errors.Is(err, post.ErrBadAuthor):
		return metrics.ReasonBadSignature
	case errors.Is(err, post.ErrBadID):
		return metrics.ReasonBadID
	case errors.Is(err, post.ErrTooLarge), errors.Is(err, errLineTooLong):
		return metrics.ReasonTooLarge
	case errors.Is(err, index.ErrDeleted):
		return metrics.ReasonDeleted
	case errors.Is(err, errBadJSON):
		return metrics.ReasonBadJSON
	}
	return metrics.ReasonOther
}
