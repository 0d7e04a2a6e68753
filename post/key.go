package post

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/murmur-p2p/murmur/internal/secretfile"
)

// KeyFile is the name of the node's private key inside its data directory.
const KeyFile = "identity.key"

// MaxKeyFile bounds the size of a key file; an ed25519 key in libp2p's
// protobuf form takes 68 bytes.
const MaxKeyFile = 4 << 10

// LoadOrCreateKey reads the ed25519 key in dir/identity.key, creating it (mode
// 0600) on first start with generate (a random key when generate is nil). The
// file holds the key in libp2p's protobuf form, so the same key is the node's
// libp2p identity. A key file other users may read is refused, with the
// command that fixes it.
func LoadOrCreateKey(dir string, generate func() (crypto.PrivKey, error)) (crypto.PrivKey, error) {
	key, err := LoadKey(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if generate == nil {
		generate = func() (crypto.PrivKey, error) {
			k, _, err := crypto.GenerateEd25519Key(rand.Reader)
			return k, err
		}
	}
	key, err = generate()
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	if err := writeKey(dir, key); err != nil {
		return nil, err
	}
	return key, nil
}

// LoadKey reads the key in dir/identity.key. A missing key gives an error
// matching fs.ErrNotExist.
func LoadKey(dir string) (crypto.PrivKey, error) {
	path := filepath.Join(dir, KeyFile)
	data, err := secretfile.Read(path, MaxKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no identity key in %s: %w", dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read identity key: %w", err)
	}
	key, err := crypto.UnmarshalPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w (restore it from a backup with 'murmur key import')", path, err)
	}
	if key.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("key %s is not ed25519", path)
	}
	return key, nil
}

// writeKey stores key as dir/identity.key, durably.
func writeKey(dir string, key crypto.PrivKey) error {
	data, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := secretfile.Write(filepath.Join(dir, KeyFile), data); err != nil {
		return fmt.Errorf("write identity key: %w", err)
	}
	return nil
}
