package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/puzzle"
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

// TestShortIdentityIsRefusedThenReplaced: a data directory whose key does
// not solve the network's identity puzzle (a node from a network that asked
// less) is refused at start with the command that fixes it; 'murmur key
// new' makes an identity that solves it and keeps the old key beside it,
// and the node then starts under the new identity.
func TestShortIdentityIsRefusedThenReplaced(t *testing.T) {
	dir := t.TempDir()
	cmd, addr := startNodeProcess(t, dir, "--id-difficulty", "0")
	first, err := api.NewClient(addr).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
	id, err := peer.Decode(first.PeerID)
	if err != nil {
		t.Fatal(err)
	}
	// A difficulty the old key falls short of: at most 12 bits, cheap.
	d := strconv.Itoa(min(puzzle.Bits(id)+1, 12))
	if puzzle.Bits(id) >= 12 {
		t.Skipf("the random key %s happens to solve 12 bits", id)
	}
	run := func(args ...string) (string, error) {
		out, err := murmurCmd(context.Background(), args...).CombinedOutput()
		return string(out), err
	}
	out, err := run("node", "--data", dir, "--api", "127.0.0.1:0", "--id-difficulty", d)
	if err == nil || !strings.Contains(out, "murmur key new --data "+dir+" --id-difficulty "+d) {
		t.Fatalf("node with a short key: want a refusal naming the fix, got %v\n%s", err, out)
	}
	if out, err := run("key", "new", "--data", dir, "--id-difficulty", d); err != nil {
		t.Fatalf("key new: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "identity.key."+first.PeerID)); err != nil {
		t.Fatalf("the old key was not kept: %v", err)
	}
	_, addr = startNodeProcess(t, dir, "--id-difficulty", d)
	second, err := api.NewClient(addr).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	nid, _ := peer.Decode(second.PeerID)
	if second.PeerID == first.PeerID || !puzzle.Solves(nid, puzzle.Bits(id)+1) {
		t.Fatalf("after key new the node is %s (%d bits), before %s", second.PeerID, puzzle.Bits(nid), first.PeerID)
	}
	if out, err := run("key", "new", "--data", dir, "--id-difficulty", d); err == nil || !strings.Contains(out, "it stays") {
		t.Fatalf("key new over a key that solves the puzzle: want a refusal, got %v\n%s", err, out)
	}
}
