package node

import (
	"os"
	"path/filepath"
	"runtime"
)

// DefaultDataDir is where a node keeps its key and index unless told
// otherwise: $MURMUR_DATA, else the platform's per-user data directory
// ($XDG_DATA_HOME or ~/.local/share on Linux, ~/Library/Application Support on
// macOS, %LocalAppData% on Windows), in a "murmur" folder.
func DefaultDataDir() string {
	if d := os.Getenv("MURMUR_DATA"); d != "" {
		return d
	}
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "murmur")
		}
	case "darwin":
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, "Library", "Application Support", "murmur")
		}
	default:
		if d := os.Getenv("XDG_DATA_HOME"); d != "" {
			return filepath.Join(d, "murmur")
		}
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, ".local", "share", "murmur")
		}
	}
	return "murmur-data"
}
