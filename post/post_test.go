package post

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
)

func testKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, err := LoadOrCreateKey(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignVerifyRoundTrip(t *testing.T) {
	key := testKey(t)
	now := time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.UTC)
	p, err := Sign(key, Draft{Text: "hello #world", Lang: "EN_gb", Label: " Ann "}, now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Lang != "en-gb" || p.Label != "Ann" || !p.CreatedAt.Equal(now.Truncate(time.Millisecond)) {
		t.Fatalf("fields not normalized: %+v", p)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data, now)
	if err != nil {
		t.Fatalf("decode own post: %v", err)
	}
	if got.ID != p.ID || !ValidID(got.ID) {
		t.Fatalf("id changed in round trip: %s vs %s", got.ID, p.ID)
	}
	// Signing is deterministic: the same draft gives the same ID.
	again, _ := Sign(key, Draft{Text: "hello #world", Lang: "en-gb", Label: "Ann", CreatedAt: now}, now)
	if again.ID != p.ID {
		t.Fatalf("same draft, different id")
	}
}

func TestSignRefusesBadDrafts(t *testing.T) {
	key := testKey(t)
	now := time.Now()
	cases := []struct {
		name string
		d    Draft
		want error
	}{
		{"empty", Draft{Text: ""}, ErrEmpty},
		{"blank", Draft{Text: " \n\t "}, ErrEmpty},
		{"too long", Draft{Text: strings.Repeat("é", MaxTextChars+1)}, ErrTooLong},
		{"invalid utf8", Draft{Text: "a\xffb"}, ErrInvalidUTF8},
		{"bad reply_to", Draft{Text: "x", ReplyTo: "nope"}, ErrBadField},
		{"bad lang", Draft{Text: "x", Lang: "english!"}, ErrBadField},
		{"future", Draft{Text: "x", CreatedAt: now.Add(time.Hour)}, ErrBadField},
		{"before 1970", Draft{Text: "x", CreatedAt: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}, ErrBadField},
		{"label newline", Draft{Text: "x", Label: "a\nb"}, ErrBadField},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Sign(key, c.d, now); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	if _, err := Sign(key, Draft{Text: strings.Repeat("é", MaxTextChars)}, now); err != nil {
		t.Fatalf("text of exactly the limit refused: %v", err)
	}
}

func TestVerifyCatchesTampering(t *testing.T) {
	key, other := testKey(t), testKey(t)
	now := time.Now()
	p, err := Sign(key, Draft{Text: "original"}, now)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := Sign(other, Draft{Text: "original"}, now)
	cases := []struct {
		name   string
		mutate func(p *Post)
		want   error
	}{
		{"text", func(p *Post) { p.Text = "changed" }, ErrBadID},
		{"id", func(p *Post) { p.ID = strings.Repeat("0", 64) }, ErrBadID},
		{"sig", func(p *Post) { p.Sig[0] ^= 1 }, ErrBadSignature},
		{"author swapped", func(p *Post) { p.Author = q.Author }, ErrBadID},
		{"author and id swapped", func(p *Post) { p.Author, p.ID = q.Author, q.ID }, ErrBadSignature},
		{"author garbage", func(p *Post) { p.Author = "x" }, ErrBadAuthor},
		{"sub-millisecond time", func(p *Post) { p.CreatedAt = p.CreatedAt.Add(1) }, ErrBadField},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cp := *p
			cp.Sig = append([]byte(nil), p.Sig...)
			c.mutate(&cp)
			if err := cp.Verify(now); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestTombstone(t *testing.T) {
	key, other := testKey(t), testKey(t)
	now := time.Now()
	p, _ := Sign(key, Draft{Text: "to be deleted"}, now)
	ts, err := SignTombstone(key, p.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(ts)
	got, err := DecodeTombstone(data)
	if err != nil {
		t.Fatalf("decode tombstone: %v", err)
	}
	if !got.Deletes(p) {
		t.Fatal("tombstone does not delete its target")
	}
	forged, _ := SignTombstone(other, p.ID, now)
	if forged.Deletes(p) {
		t.Fatal("a tombstone by another author deletes the post")
	}
	got.Target = strings.Repeat("a", 64)
	if err := got.Verify(); !errors.Is(err, ErrBadID) {
		t.Fatalf("retargeted tombstone: got %v, want ErrBadID", err)
	}
	if _, err := SignTombstone(key, "not-an-id", now); !errors.Is(err, ErrBadField) {
		t.Fatalf("bad target: got %v", err)
	}
}

func TestKeyPersists(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateKey(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateKey(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Equals(b) {
		t.Fatal("key changed between loads")
	}
}

func TestDecodeRefusesOversize(t *testing.T) {
	if _, err := Decode(make([]byte, MaxEncodedSize+1), time.Now()); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

// TestKeyFileReadableByOthersIsRefused: a key other users could copy is not
// used; the error says which command fixes it.
func TestKeyFileReadableByOthersIsRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("permission bits do not protect files on Windows")
	}
	dir := t.TempDir()
	if _, err := LoadOrCreateKey(dir, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("new key has mode %04o, want 0600", st.Mode().Perm())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadOrCreateKey(dir, nil)
	if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Fatalf("key with mode 0644: got %v, want a refusal that says chmod 600", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(dir, nil); err != nil {
		t.Fatalf("after chmod 600: %v", err)
	}
}
