package query

import "context"

type callerKey struct{}

// WithCaller tells a search who asks: the HTTP client's address, so that a
// node can share its searches fairly among those who ask at once.
func WithCaller(ctx context.Context, caller string) context.Context {
	return context.WithValue(ctx, callerKey{}, caller)
}

// CallerOf is the caller WithCaller set, or "".
func CallerOf(ctx context.Context) string {
	c, _ := ctx.Value(callerKey{}).(string)
	return c
}

// BusyError refuses a search because the node runs as many as it allows, in
// all or for this caller; the caller may try again in a moment.
type BusyError struct{ Msg string }

// Error returns the message.
func (e *BusyError) Error() string { return e.Msg }
