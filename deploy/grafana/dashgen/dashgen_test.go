package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// regenerate is the command that brings the committed dashboard up to date.
const regenerate = "go run ./deploy/grafana/dashgen"

// TestCommittedDashboardIsFresh fails while the committed dashboard JSON is
// not, byte for byte, what Build produces: someone edited the JSON by hand,
// or the Go code without regenerating.
func TestCommittedDashboardIsFresh(t *testing.T) {
	want, err := JSON()
	if err != nil {
		t.Fatalf("building the dashboard: %v", err)
	}
	// The test runs in deploy/grafana/dashgen; OutputPath is from the root.
	got, err := os.ReadFile(filepath.Join("..", "..", "..", OutputPath))
	if err != nil {
		t.Fatalf("%v; create it from the repository root with:\n\n\t%s\n", err, regenerate)
	}
	if !bytes.Equal(got, want) {
		line, gotLine, wantLine := firstDifference(got, want)
		t.Errorf("%s is stale: line %d is\n\t%s\nwhere deploy/grafana/dashgen builds\n\t%s\n"+
			"Change the dashboard in deploy/grafana/dashgen, not the JSON, and regenerate it from the repository root with:\n\n\t%s\n",
			OutputPath, line, gotLine, wantLine, regenerate)
	}
}

// firstDifference returns the first line (from 1) where a and b differ, and
// that line of each.
func firstDifference(a, b []byte) (n int, lineA, lineB string) {
	as, bs := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := 0; ; i++ {
		var la, lb []byte
		if i < len(as) {
			la = as[i]
		}
		if i < len(bs) {
			lb = bs[i]
		}
		if !bytes.Equal(la, lb) || i >= len(as) || i >= len(bs) {
			return i + 1, string(la), string(lb)
		}
	}
}

// TestDashboardIdentity keeps what provisioning and links rely on: the uid
// and title, a distinct ID on every panel, and the variables the queries
// use.
func TestDashboardIdentity(t *testing.T) {
	d, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	if d.Uid == nil || *d.Uid != "murmur" || d.Title == nil || *d.Title != "murmur" {
		t.Errorf("uid %v, title %v: want murmur and murmur", d.Uid, d.Title)
	}
	ids := map[uint32]bool{}
	for _, p := range d.Panels {
		var id uint32
		switch {
		case p.RowPanel != nil:
			id = p.RowPanel.Id
		case p.Panel != nil && p.Panel.Id != nil:
			id = *p.Panel.Id
		default:
			t.Errorf("panel %+v has no id", p)
			continue
		}
		if id == 0 || ids[id] {
			t.Errorf("panel id %d is zero or used twice", id)
		}
		ids[id] = true
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	if len(vars) != 2 || vars[0] != "datasource" || vars[1] != "instance" {
		t.Errorf("variables %v, want [datasource instance]", vars)
	}
}
