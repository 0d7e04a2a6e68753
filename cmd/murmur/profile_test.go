package main

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"testing"

	"github.com/murmur-p2p/murmur/post"
)

// TestProfileOnANode: 'murmur profile set' signs the node's profile at a
// real node and 'profile get' shows it; a missing name is a usage error,
// an author without a profile an error.
func TestProfileOnANode(t *testing.T) {
	_, addr := startNodeProcess(t, t.TempDir())
	run := func(args ...string) (string, int) {
		t.Helper()
		out, err := murmurCmd(context.Background(), append(args, "--api", addr)...).CombinedOutput()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			return string(out), exit.ExitCode()
		case err != nil:
			t.Fatal(err)
		}
		return string(out), 0
	}
	out, code := run("profile", "set", "--name", "Ada of the marsh", "--bio", "Counts plovers.")
	if code != 0 {
		t.Fatalf("profile set: exit %d\n%s", code, out)
	}
	out, code = run("profile", "get")
	var p post.Profile
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil || p.Name != "Ada of the marsh" || p.Bio != "Counts plovers." || p.Verify() != nil {
		t.Fatalf("profile get: exit %d\n%s", code, out)
	}
	if out, code := run("profile", "get", p.Author); code != 0 {
		t.Fatalf("profile get %s: exit %d\n%s", p.Author, code, out)
	}
	if out, code := run("profile", "set", "--bio", "no name"); code != 2 {
		t.Errorf("profile set without a name: exit %d, want 2\n%s", code, out)
	}
	if out, code := run("profile", "get", "12D3KooWDMB6ZLRHFd6yBzUoQ7AvNRkNmP76V97dKcyuTJVeoMQZ"); code != 1 {
		t.Errorf("profile of an author without one: exit %d, want 1\n%s", code, out)
	}
}
