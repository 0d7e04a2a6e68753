package follows

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestStoreKeepsFollowsWithinBounds: follows are added once, removed, kept
// across a reopen, bounded in number, and a damaged file is an error that
// names it rather than an empty list.
func TestStoreKeepsFollowsWithinBounds(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if added, err := s.Add(KindSearch, "#heron"); !added || err != nil {
		t.Fatalf("first add: %v %v", added, err)
	}
	if added, err := s.Add(KindSearch, "#heron"); added || err != nil {
		t.Fatalf("second add of the same search: %v %v, want not added", added, err)
	}
	if _, err := s.Add(KindAuthor, "12D3KooWExample"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add("tag", "x"); err == nil {
		t.Fatal("an unknown kind was added")
	}
	again, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if l := again.List(); len(l.Authors) != 1 || len(l.Searches) != 1 || l.Searches[0] != "#heron" {
		t.Fatalf("after reopening: %+v", l)
	}
	if err := again.Remove(KindSearch, "#heron"); err != nil {
		t.Fatal(err)
	}
	if err := again.Remove(KindSearch, "#heron"); !errors.Is(err, ErrNotFollowed) {
		t.Fatalf("removing twice: %v, want ErrNotFollowed", err)
	}
	for i := again.List().Len(); i < MaxFollows; i++ {
		if _, err := again.Add(KindSearch, fmt.Sprintf("word%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := again.Add(KindSearch, "one more"); !errors.Is(err, ErrFull) {
		t.Fatalf("follow %d: %v, want ErrFull", MaxFollows+1, err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil {
		t.Fatal("a damaged follows file opened as if empty")
	}
}
