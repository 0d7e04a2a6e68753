package node_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/node"
)

// contactNode starts a node on 127.0.0.1 with network settings nc and
// returns it running, with a stop that waits for its shutdown (also run
// when the test ends).
func contactNode(t *testing.T, dir string, nc node.NetworkConfig, log *slog.Logger) (*node.Node, func()) {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nc.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	n, err := node.New(node.Config{DataDir: dir, APIAddr: "127.0.0.1:0", Logger: log, Network: nc})
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	return n, runNode(t, n)
}

// waitUntil polls cond until it holds, failing the test after timeout.
func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testNetworkName(t *testing.T) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	return "test-" + hex.EncodeToString(b[:])
}

func connectedTo(n *node.Node, id string) bool {
	return slices.Contains(n.Net().PeerIDs(), id)
}

func alone(t *testing.T, n *node.Node) (bool, string) {
	t.Helper()
	s, err := n.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s.Alone, s.AloneHint
}

// TestNodeRejoinsThroughRememberedPeers: a node that has been in a network
// remembers its peers in its data directory and, restarted without
// --bootstrap, joins through them; neither node then reports being alone.
func TestNodeRejoinsThroughRememberedPeers(t *testing.T) {
	name := testNetworkName(t)
	const after = 200 * time.Millisecond
	// A keeps running, so its address stays what B remembers.
	a, _ := contactNode(t, t.TempDir(), node.NetworkConfig{Name: name, AloneAfter: after}, nil)
	dirB := t.TempDir()
	b, stopB := contactNode(t, dirB, node.NetworkConfig{Name: name, Bootstrap: a.Net().Addrs(), AloneAfter: after}, nil)
	waitUntil(t, "B joined through A", 20*time.Second, func() bool { return b.Ready() && connectedTo(b, a.ID().String()) })
	stopB()

	data, err := os.ReadFile(filepath.Join(dirB, node.PeersFile))
	if err != nil {
		t.Fatalf("B wrote no remembered peers at close: %v", err)
	}
	var file struct {
		Network string
		Peers   []struct{ ID string }
	}
	if err := json.Unmarshal(data, &file); err != nil || file.Network != name || len(file.Peers) != 1 || file.Peers[0].ID != a.ID().String() {
		t.Fatalf("remembered peers: %v %s, want A only, of network %s", err, data, name)
	}

	started := time.Now()
	b, _ = contactNode(t, dirB, node.NetworkConfig{Name: name, AloneAfter: after}, nil)
	if !b.Ready() {
		t.Error("a node with only remembered peers is not ready at once; they may all be gone")
	}
	waitUntil(t, "B rejoined A without --bootstrap", 20*time.Second, func() bool {
		return b.Net().Joined() && connectedTo(b, a.ID().String()) && connectedTo(a, b.ID().String())
	})
	t.Logf("rejoined in %v", time.Since(started).Round(time.Millisecond))
	// Past the delay, neither is alone.
	time.Sleep(3 * after)
	for _, n := range []*node.Node{a, b} {
		if lone, hint := alone(t, n); lone {
			t.Errorf("node %s with a peer reports being alone: %s", n.ID(), hint)
		}
	}
}

// aloneLog counts the warnings that the node is alone.
type aloneLog struct{ warnings *atomic.Int32 }

func (h aloneLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && r.Message == "this node is alone" {
		h.warnings.Add(1)
	}
	return nil
}

func (h aloneLog) Enabled(context.Context, slog.Level) bool { return true }
func (h aloneLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h aloneLog) WithGroup(string) slog.Handler            { return h }

// TestLoneNodeSaysItIsAlone: a node without a peer of its network reports
// it in its status once the delay has passed, with the command to join,
// warns once in its log, and stops being alone when a peer comes.
func TestLoneNodeSaysItIsAlone(t *testing.T) {
	name := testNetworkName(t)
	const after = time.Second
	var warnings atomic.Int32
	log := slog.New(aloneLog{warnings: &warnings})
	dir := t.TempDir()
	started := time.Now()
	lone, _ := contactNode(t, dir, node.NetworkConfig{Name: name, AloneAfter: after}, log)
	if is, _ := alone(t, lone); is && time.Since(started) < after {
		t.Fatal("alone before the delay passed")
	}
	waitUntil(t, "the node reports being alone", 10*time.Second, func() bool { is, _ := alone(t, lone); return is })
	if took := time.Since(started); took < after {
		t.Errorf("alone after %v, before the delay of %v", took, after)
	}
	_, hint := alone(t, lone)
	for _, want := range []string{"murmur node --data " + dir, "--network " + name, "--bootstrap /ip4/", "/p2p/", "murmur status"} {
		if !strings.Contains(hint, want) {
			t.Errorf("hint %q does not say %q", hint, want)
		}
	}
	time.Sleep(3 * after) // more checks, still one period
	if got := warnings.Load(); got != 1 {
		t.Errorf("%d warnings that the node is alone within one period, want 1", got)
	}

	contactNode(t, t.TempDir(), node.NetworkConfig{Name: name, Bootstrap: lone.Net().Addrs(), AloneAfter: -1}, nil)
	waitUntil(t, "the node no longer alone", 10*time.Second, func() bool { is, _ := alone(t, lone); return !is })
	if _, hint := alone(t, lone); hint != "" {
		t.Errorf("a node with a peer has a hint: %q", hint)
	}
}
