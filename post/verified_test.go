package post

import (
	"errors"
	"testing"
	"time"
)

// TestVerifiedMemorySkipsOnlyTheSignature: a post verified once is not
// checked again with ed25519, but a record that differs from it in any byte,
// content or signature, is: the memory cannot be used to pass off altered
// content under a known ID and signature.
func TestVerifiedMemorySkipsOnlyTheSignature(t *testing.T) {
	key := testKey(t)
	now := time.Now()
	p, err := Sign(key, Draft{Text: "a post verified once"}, now)
	if err != nil {
		t.Fatal(err)
	}
	ForgetVerified()
	before := signatureChecks.Load()
	for range 3 {
		if err := p.Verify(now); err != nil {
			t.Fatal(err)
		}
	}
	if n := signatureChecks.Load() - before; n != 1 {
		t.Fatalf("three verifications of one post made %d signature checks, want 1", n)
	}

	altered := *p
	altered.Text = "a post altered after it was verified"
	if err := altered.Verify(now); !errors.Is(err, ErrBadID) {
		t.Fatalf("altered text under a remembered ID and signature: %v, want ErrBadID", err)
	}
	altered = *p
	altered.Label = "someone else"
	if err := altered.Verify(now); !errors.Is(err, ErrBadID) {
		t.Fatalf("altered label: %v, want ErrBadID", err)
	}

	forged := *p
	forged.Sig = append([]byte(nil), p.Sig...)
	forged.Sig[0] ^= 1
	for range 2 {
		if err := forged.Verify(now); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("a remembered ID with another signature: %v, want ErrBadSignature", err)
		}
	}
	// The original still verifies from memory after the forgery failed.
	before = signatureChecks.Load()
	if err := p.Verify(now); err != nil {
		t.Fatal(err)
	}
	if n := signatureChecks.Load() - before; n != 0 {
		t.Fatalf("a failed forgery evicted the good pair: %d checks", n)
	}

	// The other limits are still checked on every read.
	late := *p
	if err := late.Verify(p.CreatedAt.Add(-time.Hour)); !errors.Is(err, ErrBadField) {
		t.Fatalf("a post from the future by the reader's clock: %v, want ErrBadField", err)
	}

	ForgetVerified()
	before = signatureChecks.Load()
	if err := p.Verify(now); err != nil {
		t.Fatal(err)
	}
	if n := signatureChecks.Load() - before; n != 1 {
		t.Fatalf("after ForgetVerified: %d checks, want 1", n)
	}
}
