package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
)

func postsHeld(t *testing.T, addr string) uint64 {
	t.Helper()
	st, err := api.NewClient(addr).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Posts
}

// TestImportRerun imports a file of dated and undated lines twice with the
// real CLI: the second run stores nothing and counts every line as already
// stored.
func TestImportRerun(t *testing.T) {
	_, addr := startNodeProcess(t, t.TempDir())
	file := filepath.Join(t.TempDir(), "in.jsonl")
	var b strings.Builder
	for i := range 40 {
		if i%2 == 0 {
			fmt.Fprintf(&b, `{"text":"undated line %d of the rerun test"}`+"\n", i)
		} else {
			fmt.Fprintf(&b, `{"text":"dated line %d of the rerun test","created_at":"2024-05-01T10:00:00Z"}`+"\n", i)
		}
	}
	b.WriteString(`{"text":""}` + "\n")
	b.WriteString(`{"text":"undated line 0 of the rerun test"}` + "\n") // a repeated line
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := murmurCmd(context.Background(), append([]string{"import", "--api", addr, "--chunk", "7"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("murmur import %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := run(file); !strings.Contains(out, "42 lines: 40 accepted, 1 already stored, 1 rejected") {
		t.Fatalf("first import:\n%s", out)
	}
	if n := postsHeld(t, addr); n != 40 {
		t.Fatalf("%d posts after the first import, want 40", n)
	}
	if out := run(file); !strings.Contains(out, "42 lines: 0 accepted, 41 already stored, 1 rejected") {
		t.Fatalf("second import:\n%s", out)
	}
	if n := postsHeld(t, addr); n != 40 {
		t.Fatalf("%d posts after importing the file again, want 40", n)
	}
	// Standard input has no modification time: the CLI says which time it
	// gave undated lines, and a rerun with it stores nothing twice.
	stdin := func(args ...string) string {
		t.Helper()
		cmd := murmurCmd(context.Background(), append([]string{"import", "--api", addr}, args...)...)
		cmd.Stdin = strings.NewReader(`{"text":"undated from standard input"}` + "\n")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("import from standard input: %v\n%s", err, out)
		}
		return string(out)
	}
	out := stdin("-")
	i := strings.Index(out, "--undated-time ")
	if i < 0 {
		t.Fatalf("import from standard input does not say how to rerun it:\n%s", out)
	}
	when := strings.Fields(out[i+len("--undated-time "):])[0]
	if out := stdin("--undated-time", when, "-"); !strings.Contains(out, "0 accepted, 1 already stored") {
		t.Fatalf("rerun of standard input with --undated-time %s:\n%s", when, out)
	}
}

// TestImportRerunAfterCrash kills the node (SIGKILL) while the CLI imports
// 20,000 undated lines, restarts it, and runs the same command again, as
// the CLI's error advises: every line ends up stored exactly once.
func TestImportRerunAfterCrash(t *testing.T) {
	dir := t.TempDir()
	node, addr := startNodeProcess(t, dir)
	const lines = 20000
	file := filepath.Join(t.TempDir(), "big.jsonl")
	var b bytes.Buffer
	for i := range lines {
		fmt.Fprintf(&b, `{"text":"crash rerun entry u%dx without a date","lang":"en"}`+"\n", i)
	}
	if err := os.WriteFile(file, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := murmurCmd(context.Background(), "import", "--api", addr, "--chunk", "500", file)
	var cliOut bytes.Buffer
	cli.Stdout, cli.Stderr = &cliOut, &cliOut
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	for postsHeld(t, addr) < 3000 {
		time.Sleep(5 * time.Millisecond)
	}
	_ = node.Process.Kill()
	_ = node.Wait()
	err := cli.Wait()
	var exit *exec.ExitError
	if err == nil || !errors.As(err, &exit) {
		t.Fatalf("the import outlived its node: %v\n%s", err, cliOut.String())
	}
	if !strings.Contains(cliOut.String(), "run the same command again") {
		t.Fatalf("the CLI's error does not say to run the same command again:\n%s", cliOut.String())
	}
	t.Logf("first run: %s", lastLine(cliOut.String()))

	_, addr = startNodeProcess(t, dir)
	stored := postsHeld(t, addr)
	out, err := murmurCmd(context.Background(), "import", "--api", addr, "--chunk", "500", file).CombinedOutput()
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	if n := postsHeld(t, addr); n != lines {
		t.Fatalf("%d posts after the rerun, want %d (%d were stored before it)\n%s", n, lines, stored, out)
	}
	want := fmt.Sprintf("%d lines: %d accepted, %d already stored, 0 rejected", lines, lines-int(stored), stored)
	if !strings.Contains(string(out), want) {
		t.Fatalf("rerun says:\n%s\nwant %q", out, want)
	}
}

func lastLine(s string) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			last = sc.Text()
		}
	}
	return last
}
