package secretfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestWriteFlushesBeforeRename checks the order that makes a secret durable:
// the new file's bytes reach the disk before the rename publishes it, and the
// directory is flushed after, so a crash never leaves a renamed, empty key.
func TestWriteFlushesBeforeRename(t *testing.T) {
	var events []string
	syncFile = func(f *os.File) error {
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if st.IsDir() {
			events = append(events, "sync dir")
		} else {
			events = append(events, "sync file")
		}
		return f.Sync()
	}
	rename = func(from, to string) error {
		events = append(events, "rename")
		return os.Rename(from, to)
	}
	t.Cleanup(func() { syncFile, rename = (*os.File).Sync, os.Rename })

	path := filepath.Join(t.TempDir(), "secret")
	if err := Write(path, []byte("s3cret")); err != nil {
		t.Fatal(err)
	}
	want := []string{"sync file", "rename", "sync dir"}
	if runtime.GOOS == "windows" {
		want = want[:2]
	}
	if strings.Join(events, ", ") != strings.Join(want, ", ") {
		t.Fatalf("write did %v, want %v", events, want)
	}
	got, err := Read(path, 64)
	if err != nil || string(got) != "s3cret" {
		t.Fatalf("read back %q, %v", got, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != Mode {
		t.Fatalf("mode %04o, want %04o", st.Mode().Perm(), Mode)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".secret.tmp-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestReadRefusesExposedFiles: a secret other users may read is refused with
// the command that fixes it; a missing file says so; a large one is refused.
func TestReadRefusesExposedFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("permission bits do not protect files on Windows")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := Read(path, 64)
		var exposed *ExposedError
		if !errors.As(err, &exposed) || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Fatalf("mode %04o: got %v, want an ExposedError saying chmod 600", mode, err)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path, 64); err != nil {
		t.Fatalf("mode 0400: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "absent"), 64); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: got %v, want fs.ErrNotExist", err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, 65), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(big, 64); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("65 bytes with a bound of 64: got %v, want ErrTooLarge", err)
	}
}
