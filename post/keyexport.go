package post

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The exported form of an identity key: one PEM block of type keyPEMType
// holding the key in libp2p's protobuf form, with the peer ID it belongs to
// in a header, so a reader (and DecodeKeyExport) can tell whose key it is.
const (
	keyPEMType   = "MURMUR IDENTITY KEY"
	keyPEMPeerID = "Peer-Id"
	// MaxKeyExport bounds an exported key that DecodeKeyExport reads.
	MaxKeyExport = 8 << 10
)

// Errors of key export and import.
var (
	// ErrBadKeyExport means the bytes are not an exported murmur identity key.
	ErrBadKeyExport = errors.New("not an exported murmur identity key")
	// ErrKeyExists means the data directory already holds another identity.
	ErrKeyExists = errors.New("the data directory already holds another identity key")
)

// ExportKey encodes key in its exported form: text that can be printed,
// copied and stored offline.
func ExportKey(key crypto.PrivKey) ([]byte, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("derive peer ID: %w", err)
	}
	raw, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: keyPEMType, Headers: map[string]string{keyPEMPeerID: id.String()}, Bytes: raw}), nil
}

// DecodeKeyExport reads an exported key: exactly one block of the exported
// form (surrounding blank space aside), an ed25519 key, whose peer ID is the
// one its header names. It refuses input over MaxKeyExport before parsing.
func DecodeKeyExport(data []byte) (crypto.PrivKey, error) {
	if len(data) > MaxKeyExport {
		return nil, fmt.Errorf("%w: %d bytes, an exported key has at most %d", ErrBadKeyExport, len(data), MaxKeyExport)
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no -----BEGIN %s----- block (make one with 'murmur key export')", ErrBadKeyExport, keyPEMType)
	}
	if block.Type != keyPEMType {
		return nil, fmt.Errorf("%w: the block is a %q, not a %q", ErrBadKeyExport, block.Type, keyPEMType)
	}
	start := bytes.LastIndex(data[:len(data)-len(rest)], []byte("-----BEGIN "+keyPEMType+"-----"))
	if len(bytes.TrimSpace(rest)) > 0 || start < 0 || len(bytes.TrimSpace(data[:start])) > 0 {
		return nil, fmt.Errorf("%w: text outside the key block", ErrBadKeyExport)
	}
	key, err := crypto.UnmarshalPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKeyExport, err)
	}
	if key.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("%w: the key is not ed25519", ErrBadKeyExport)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKeyExport, err)
	}
	if named := block.Headers[keyPEMPeerID]; named != id.String() {
		return nil, fmt.Errorf("%w: the key is the identity of %s, but its %s header says %q (damaged or edited?)", ErrBadKeyExport, id, keyPEMPeerID, named)
	}
	return key, nil
}

// ImportKey makes key the identity of the node whose data directory is dir.
// It writes dir/identity.key if there is none; a key that is already there
// and the same is left alone; another identity is refused with
// ErrKeyExists, since replacing it would orphan that node's posts.
func ImportKey(dir string, key crypto.PrivKey) error {
	have, err := LoadKey(dir)
	switch {
	case err == nil && have.Equals(key):
		return nil
	case err == nil:
		id, _ := peer.IDFromPrivateKey(have)
		return fmt.Errorf("%w: %s is the identity of %s; import into an empty data directory, or move that file away first",
			ErrKeyExists, filepath.Join(dir, KeyFile), id)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	return writeKey(dir, key)
}
