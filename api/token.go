package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/murmur-p2p/murmur/internal/secretfile"
)

// TokenFile is the name of the API token inside a node's data directory.
const TokenFile = "api.token"

// TokenEnv is the environment variable the CLI takes a node's API token
// from, before the token file of its data directory.
const TokenEnv = "MURMUR_API_TOKEN"

// Bounds of an API token.
const (
	// MinTokenLen is the shortest token a node accepts in its token file:
	// 128 bits in hex. A generated token is 64 hex digits (256 bits).
	MinTokenLen = 32
	// MaxTokenLen bounds a token, in the file and in a request.
	MaxTokenLen = 512
)

// ErrBadToken means a token file does not hold a usable token.
var ErrBadToken = errors.New("not an API token")

// ParseToken reads a token file's contents: one token of MinTokenLen to
// MaxTokenLen characters of the bearer-token alphabet (letters, digits and
// -._~+/, then = padding; RFC 6750), and surrounding blank space.
func ParseToken(data []byte) (string, error) {
	if len(data) > MaxTokenLen+64 {
		return "", fmt.Errorf("%w: %d bytes, a token has at most %d", ErrBadToken, len(data), MaxTokenLen)
	}
	tok := string(bytes.TrimSpace(data))
	if len(tok) < MinTokenLen || len(tok) > MaxTokenLen {
		return "", fmt.Errorf("%w: %d characters, want %d to %d", ErrBadToken, len(tok), MinTokenLen, MaxTokenLen)
	}
	if !validToken(tok) {
		return "", fmt.Errorf("%w: only letters, digits and -._~+/ (then = padding) may appear in a token", ErrBadToken)
	}
	return tok, nil
}

// validToken reports whether s is a b64token (RFC 6750, section 2.1).
func validToken(s string) bool {
	pad := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '=':
			if i == 0 {
				return false
			}
			pad = true
		case pad:
			return false
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return s != ""
}

// LoadOrCreateToken returns the API token in dir/api.token, creating it
// (256 random bits in hex, mode 0600) on first start. A token file other
// users may read is refused, with the command that fixes it.
func LoadOrCreateToken(dir string) (string, error) {
	tok, err := ReadToken(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate API token: %w", err)
	}
	tok = hex.EncodeToString(b[:])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	if err := secretfile.Write(filepath.Join(dir, TokenFile), []byte(tok+"\n")); err != nil {
		return "", fmt.Errorf("write API token: %w", err)
	}
	return tok, nil
}

// ReadToken returns the API token in dir/api.token. A missing file gives an
// error matching fs.ErrNotExist.
func ReadToken(dir string) (string, error) {
	path := filepath.Join(dir, TokenFile)
	data, err := secretfile.Read(path, MaxTokenLen+64)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no API token in %s: %w", dir, err)
	}
	if err != nil {
		return "", fmt.Errorf("read API token: %w", err)
	}
	tok, err := ParseToken(data)
	if err != nil {
		return "", fmt.Errorf("%s: %w; delete the file and restart the node to make a new token", path, err)
	}
	return tok, nil
}
