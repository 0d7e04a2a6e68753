// Package secretfile reads and writes the small secret files of a node's data
// directory (the identity key, the API token): written whole or not at all,
// durable once written, and refused when other users may read them.
package secretfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// Mode is the permission of a secret file: read and write for its owner only.
const Mode = 0o600

// ErrTooLarge means a secret file is larger than its reader allows.
var ErrTooLarge = errors.New("file is larger than a secret of its kind")

// ExposedError means a secret file may be read by other users of the
// machine; its message says how to fix that.
type ExposedError struct {
	Path string
	Mode fs.FileMode
}

func (e *ExposedError) Error() string {
	return fmt.Sprintf("%s is readable or writable by other users (mode %04o); it is a secret: run 'chmod 600 %s' (and check who could have copied it)",
		e.Path, e.Mode.Perm(), e.Path)
}

// Hooks for the test of the write order; they are the os functions.
var (
	syncFile = (*os.File).Sync
	rename   = os.Rename
)

// Write stores data at path with mode 0600: it writes a temporary file in
// the same directory, flushes it to disk, renames it over path and flushes
// the directory, so that after a crash path holds either nothing or all of
// data, never a truncated secret.
func Write(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(Mode); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := tmp.Write(data)
	serr := syncFile(tmp)
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write %s: flush directory: %w", path, err)
	}
	return nil
}

// syncDir makes a rename in dir durable. Windows cannot open a directory to
// flush it; its renames are durable once they return.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return syncFile(d)
}

// Read returns the contents of the secret file at path, at most max bytes.
// It refuses (with an *ExposedError) a file that users other than its owner
// may read or write. A missing file gives an error matching fs.ErrNotExist.
func Read(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	// Permission bits mean nothing on Windows, where ACLs protect files.
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, &ExposedError{Path: path, Mode: st.Mode()}
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("read %s: %w (%d bytes at most)", path, ErrTooLarge, max)
	}
	return data, nil
}
