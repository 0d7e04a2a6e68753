package post

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// TestProofOfWork: a post signed with work has an ID with that many
// leading zero bits and verifies; changing its nonce or raising the work it
// claims breaks it; a post without work encodes as before (its ID does not
// depend on the new fields).
func TestProofOfWork(t *testing.T) {
	key, _, _ := crypto.GenerateEd25519Key(nil)
	now := time.Now()
	d := Draft{Text: "worked for this", CreatedAt: now}
	for _, bits := range []int{1, 8, 14} {
		p, err := SignWork(context.Background(), key, d, now, bits)
		if err != nil {
			t.Fatal(err)
		}
		sum, _ := hex.DecodeString(p.ID)
		if p.Work != bits || zeroBits(sum) < bits {
			t.Fatalf("%d bits: ID %s has %d zero bits, work %d", bits, p.ID, zeroBits(sum), p.Work)
		}
		raw, _ := json.Marshal(p)
		back, err := Decode(raw, now)
		if err != nil || back.Work != bits || back.Nonce != p.Nonce {
			t.Fatalf("%d bits: decode: %v, %+v", bits, err, back)
		}
		tampered := *p
		tampered.Nonce++
		if err := tampered.Verify(now); !errors.Is(err, ErrBadID) {
			t.Errorf("%d bits: another nonce: %v, want ErrBadID", bits, err)
		}
	}
	// Claiming more work than the ID carries: re-sign honestly with a
	// claim the ID does not meet.
	p, err := SignWork(context.Background(), key, d, now, 1)
	if err != nil {
		t.Fatal(err)
	}
	claim := *p
	claim.Work = MaxWork
	enc := claim.canonical()
	claim.Sig, _ = key.Sign(enc)
	claim.ID = idOf(enc)
	if err := claim.Verify(now); !errors.Is(err, ErrBadWork) {
		t.Errorf("a claim of %d bits: %v, want ErrBadWork", MaxWork, err)
	}
	plain, _ := Sign(key, d, now)
	again, _ := Sign(key, d, now)
	if plain.Work != 0 || plain.Nonce != 0 || plain.ID != again.ID {
		t.Errorf("a post without work: %+v", plain)
	}
	if raw, _ := json.Marshal(plain); contains(raw, `"work"`) || contains(raw, `"nonce"`) {
		t.Errorf("a post without work encodes work fields: %s", raw)
	}
	for _, bad := range []*Post{{Work: -1}, {Work: MaxWork + 1}, {Nonce: 5}} {
		q := *plain
		q.Work, q.Nonce = bad.Work, bad.Nonce
		if err := q.checkFields(now); !errors.Is(err, ErrBadField) {
			t.Errorf("work %d nonce %d: %v, want ErrBadField", q.Work, q.Nonce, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SignWork(ctx, key, d, now, MaxWork); err == nil {
		t.Error("a 40-bit proof of work ignored its cancelled context")
	}
}

func idOf(enc []byte) string {
	sum := sha256.Sum256(enc)
	return hex.EncodeToString(sum[:])
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }

// BenchmarkSignWork is the cost of a post with 12 bits of work.
func BenchmarkSignWork(b *testing.B) {
	key, _, _ := crypto.GenerateEd25519Key(nil)
	now := time.Now()
	for b.Loop() {
		if _, err := SignWork(context.Background(), key, Draft{Text: "a post with the default work of a network", CreatedAt: now}, now, 12); err != nil {
			b.Fatal(err)
		}
	}
}
