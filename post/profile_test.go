package post

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestProfileSignedAndChecked: a profile verifies as signed and not once
// any field is changed; bad names and bios are refused; the newer of two
// profiles wins on every node alike.
func TestProfileSignedAndChecked(t *testing.T) {
	key := testKey(t)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	p, err := SignProfile(key, " Ada Lovelace ", "Counts.\nWrites notes.", now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "Ada Lovelace" {
		t.Errorf("name %q, want it trimmed", p.Name)
	}
	raw, _ := json.Marshal(p)
	if _, err := DecodeProfile(raw); err != nil {
		t.Fatalf("a signed profile does not decode: %v", err)
	}
	for name, change := range map[string]func(q *Profile){
		"name":   func(q *Profile) { q.Name = "Grace Hopper" },
		"bio":    func(q *Profile) { q.Bio = "" },
		"time":   func(q *Profile) { q.CreatedAt = q.CreatedAt.Add(time.Hour) },
		"author": func(q *Profile) { q.Author = mustAuthor(t) },
	} {
		q := *p
		change(&q)
		raw, _ := json.Marshal(&q)
		if _, err := DecodeProfile(raw); !errors.Is(err, ErrBadID) && !errors.Is(err, ErrBadSignature) {
			t.Errorf("a profile with its %s changed: %v, want a bad ID or signature", name, err)
		}
	}
	for _, c := range []struct{ name, bio string }{
		{"", "no name"},
		{strings.Repeat("n", MaxNameChars+1), ""},
		{"two\nlines", ""},
		{"ok", strings.Repeat("b", MaxBioChars+1)},
		{"ok", "a bell \a"},
		{"12D3KooWDMB6ZLRHFd6yBzUoQ7AvNRkNmP76V97dKcyuTJVeoMQZ", ""},
	} {
		if _, err := SignProfile(key, c.name, c.bio, now); !errors.Is(err, ErrBadField) {
			t.Errorf("SignProfile(%q, %q): %v, want ErrBadField", c.name, c.bio, err)
		}
	}
	later, err := SignProfile(key, "Ada", "", now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !later.Newer(p) || p.Newer(later) {
		t.Error("the later profile does not replace the earlier one")
	}
}

func mustAuthor(t *testing.T) string {
	t.Helper()
	p, err := SignProfile(testKey(t), "Someone", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p.Author
}
