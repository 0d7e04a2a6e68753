// Command dashgen writes murmur's Grafana dashboard,
// deploy/grafana/dashboards/murmur.json, from the Go code of this package,
// which builds it with Grafana's typed Go SDK
// (github.com/grafana/grafana-foundation-sdk/go). The compose stack's Grafana
// provisions that file. Edit the panels here, never the JSON, and regenerate
// it from the repository root:
//
//	go run ./deploy/grafana/dashgen
//
// or with `go generate ./deploy/grafana/dashgen`. The package's test fails
// while the committed JSON differs from what Build returns.
package main

//go:generate go run . -o ../dashboards/murmur.json

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("o", OutputPath, "file to write the dashboard JSON to")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: go run ./deploy/grafana/dashgen [-o file]")
		os.Exit(2)
	}
	if err := write(*out); err != nil {
		fmt.Fprintf(os.Stderr, "dashgen: writing %s: %v (run it from the repository root, or pass -o)\n", *out, err)
		os.Exit(1)
	}
}

// write writes the dashboard JSON to path through a temporary file in the
// same directory, so Grafana, which rereads the file every 30 seconds, never
// provisions half a dashboard.
func write(path string) error {
	b, err := JSON()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".dashgen-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
