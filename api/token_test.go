package api

import (
	"errors"
	"strings"
	"testing"
)

func TestParseToken(t *testing.T) {
	good := strings.Repeat("ab12", 16)
	for in, want := range map[string]string{
		good:                             good,
		good + "\n":                      good,
		"  " + good + "\r\n\n":           good,
		"abc-._~+/" + good + "==":        "abc-._~+/" + good + "==",
		strings.Repeat("x", MaxTokenLen): strings.Repeat("x", MaxTokenLen),
	} {
		if got, err := ParseToken([]byte(in)); err != nil || got != want {
			t.Errorf("ParseToken(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "\n", "short", good[:MinTokenLen-1],
		strings.Repeat("x", MaxTokenLen+1),
		good + " " + good, // two tokens
		good + "\x00",
		"=" + good, good + "=a", // padding only at the end
		good + "é",
	} {
		if _, err := ParseToken([]byte(in)); !errors.Is(err, ErrBadToken) {
			t.Errorf("ParseToken(%q): got %v, want ErrBadToken", in, err)
		}
	}
}

// FuzzParseToken feeds arbitrary bytes to the reader of token files, which
// users may write by hand: it must never panic, and a token it accepts must
// be a bearer token that reads back the same.
func FuzzParseToken(f *testing.F) {
	f.Add([]byte(strings.Repeat("0f", 32) + "\n"))
	f.Add([]byte("Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg=\n"))
	f.Add([]byte(" \t\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := ParseToken(data)
		if err != nil {
			return
		}
		if len(tok) < MinTokenLen || len(tok) > MaxTokenLen || !validToken(tok) {
			t.Fatalf("accepted %q", tok)
		}
		again, err := ParseToken([]byte(tok + "\n"))
		if err != nil || again != tok {
			t.Fatalf("token %q does not read back: %q, %v", tok, again, err)
		}
	})
}
