package post

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestKeyExportImport backs a node's identity up and restores it into a new
// data directory: the same key, the same peer ID, and a file mode of 0600.
// Importing over another identity is refused; over the same one, a no-op.
func TestKeyExportImport(t *testing.T) {
	src := t.TempDir()
	key, err := LoadOrCreateKey(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	exported, err := ExportKey(key)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	if !bytes.Contains(exported, []byte("Peer-Id: "+id.String())) {
		t.Fatalf("export does not name its peer ID:\n%s", exported)
	}
	got, err := DecodeKeyExport(exported)
	if err != nil || !got.Equals(key) {
		t.Fatalf("decode the export: %v", err)
	}

	dst := filepath.Join(t.TempDir(), "restored")
	if err := ImportKey(dst, got); err != nil {
		t.Fatal(err)
	}
	restored, err := LoadOrCreateKey(dst, nil)
	if err != nil || !restored.Equals(key) {
		t.Fatalf("restored key differs: %v", err)
	}
	st, err := os.Stat(filepath.Join(dst, KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("restored key file: %v, mode %v", err, st.Mode())
	}
	if err := ImportKey(dst, got); err != nil {
		t.Fatalf("importing the same key again: %v", err)
	}
	other := testKey(t)
	if err := ImportKey(dst, other); !errors.Is(err, ErrKeyExists) || !strings.Contains(err.Error(), id.String()) {
		t.Fatalf("importing over another identity: got %v, want ErrKeyExists naming %s", err, id)
	}
	if again, _ := LoadKey(dst); !again.Equals(key) {
		t.Fatal("a refused import changed the key")
	}
}

// TestDecodeKeyExportRefuses lists what an import must not accept.
func TestDecodeKeyExportRefuses(t *testing.T) {
	key := testKey(t)
	good, _ := ExportKey(key)
	otherID, _ := peer.IDFromPrivateKey(testKey(t))
	cases := map[string][]byte{
		"empty":            nil,
		"not PEM":          []byte("hello"),
		"other type":       bytes.Replace(good, []byte("MURMUR IDENTITY KEY"), []byte("PRIVATE KEY"), 2),
		"other peer":       bytes.Replace(good, []byte(mustID(t, key)), []byte(otherID.String()), 1),
		"no header":        bytes.Replace(good, []byte("Peer-Id: "+mustID(t, key)+"\n"), nil, 1),
		"trailing text":    append(append([]byte(nil), good...), "and more\n"...),
		"leading text":     append([]byte("note: my key\n"), good...),
		"leading block":    append([]byte("-----BEGIN X\n"), good...),
		"two blocks":       append(append([]byte(nil), good...), good...),
		"too large":        append(append([]byte(nil), good...), bytes.Repeat([]byte(" "), MaxKeyExport)...),
		"truncated base64": good[:len(good)-40],
	}
	for name, data := range cases {
		if _, err := DecodeKeyExport(data); !errors.Is(err, ErrBadKeyExport) {
			t.Errorf("%s: got %v, want ErrBadKeyExport", name, err)
		}
	}
	padded := append(append([]byte("\n\n"), good...), "\n\n"...)
	if _, err := DecodeKeyExport(padded); err != nil {
		t.Errorf("blank lines around the block: %v", err)
	}
}

func mustID(t *testing.T, k crypto.PrivKey) string {
	t.Helper()
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}
