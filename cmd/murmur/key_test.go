package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murmur-p2p/murmur/api"
)

// TestKeyBackupRestore backs up a node's identity with 'murmur key export',
// restores it with 'murmur key import' into a fresh data directory, and
// starts a node there: it has the first node's peer ID. Restoring over
// another identity is refused.
func TestKeyBackupRestore(t *testing.T) {
	src := t.TempDir()
	_, addr := startNodeProcess(t, src)
	st, err := api.NewClient(addr).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		out, err := murmurCmd(context.Background(), args...).CombinedOutput()
		return string(out), err
	}
	backup := filepath.Join(t.TempDir(), "node.key")
	if out, err := run("key", "export", "--data", src, "--out", backup); err != nil || !strings.Contains(out, st.PeerID) {
		t.Fatalf("key export: %v\n%s", err, out)
	}
	info, err := os.Stat(backup)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, mode %v; want mode 0600", err, info.Mode())
	}
	if out, err := run("key", "export", "--data", src); err != nil || !strings.Contains(out, "BEGIN MURMUR IDENTITY KEY") {
		t.Fatalf("key export to standard output: %v\n%s", err, out)
	}

	dst := filepath.Join(t.TempDir(), "restored")
	if out, err := run("key", "import", "--data", dst, backup); err != nil {
		t.Fatalf("key import: %v\n%s", err, out)
	}
	_, addr = startNodeProcess(t, dst)
	restored, err := api.NewClient(addr).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if restored.PeerID != st.PeerID {
		t.Fatalf("restored node is %s, want %s", restored.PeerID, st.PeerID)
	}

	other := t.TempDir()
	startNodeProcess(t, other) // creates another identity
	if out, err := run("key", "import", "--data", other, backup); err == nil || !strings.Contains(out, "already holds another identity") {
		t.Fatalf("import over another identity: want a refusal, got %v\n%s", err, out)
	}
}
