package post

import (
	"encoding/json"
	"testing"
	"time"
)

// TestDecodeCachedIsDecode: a post decoded twice comes back equal and of
// its own; a post dated ahead of the clock is refused from the cache as by
// Decode; bytes changed by one are decoded and refused, not served from the
// cache.
func TestDecodeCachedIsDecode(t *testing.T) {
	ForgetDecoded()
	key := testKey(t)
	now := time.Now()
	later := now.Add(2 * time.Hour)
	p, err := Sign(key, Draft{Text: "the kestrel hovers", CreatedAt: later}, now.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	first, err := DecodeCached(raw, later)
	if err != nil {
		t.Fatal(err)
	}
	checks := signatureChecks.Load()
	second, err := DecodeCached(raw, later)
	if err != nil {
		t.Fatal(err)
	}
	if signatureChecks.Load() != checks {
		t.Fatal("the second decode checked the signature again")
	}
	if first == second || first.ID != second.ID || first.Text != second.Text || !first.CreatedAt.Equal(second.CreatedAt) || string(first.Sig) != string(second.Sig) {
		t.Fatalf("two decodes of one post: %+v and %+v", first, second)
	}
	first.Text, first.Sig[0] = "changed", first.Sig[0]^1
	if third, _ := DecodeCached(raw, later); third.Text != "the kestrel hovers" || string(third.Sig) != string(second.Sig) {
		t.Fatalf("a change to a returned post reached the cache: %+v", third)
	}
	// Dated two hours ahead of now: Decode refuses it now, and so must the
	// cache, though the post decoded at a later time.
	if _, err := Decode(raw, now); err == nil {
		t.Fatal("Decode took a post dated two hours ahead")
	}
	if _, err := DecodeCached(raw, now); err == nil {
		t.Fatal("DecodeCached took from its cache a post dated two hours ahead")
	}
	tampered := []byte(string(raw))
	i := len(tampered) / 2
	for tampered[i] == '"' || tampered[i] == '\\' {
		i++
	}
	tampered[i] ^= 1
	if _, err := DecodeCached(tampered, later); err == nil {
		t.Fatal("a post changed by one bit decoded")
	}
	// The string form shares the cache and its checks.
	checks = signatureChecks.Load()
	fourth, err := DecodeCachedString(string(raw), later)
	if err != nil || signatureChecks.Load() != checks || fourth.ID != second.ID || fourth == second {
		t.Fatalf("the string form of a kept post: %+v, %v (signature checks %d → %d)", fourth, err, checks, signatureChecks.Load())
	}
	if _, err := DecodeCachedString(string(raw), now); err == nil {
		t.Fatal("DecodeCachedString took from its cache a post dated two hours ahead")
	}
	if _, err := DecodeCachedString(string(tampered), later); err == nil {
		t.Fatal("a post changed by one bit decoded from a string")
	}
}

func BenchmarkDecodeCached(b *testing.B) {
	key := testKey(b)
	p, err := Sign(key, Draft{Text: "a quiet heron waits by the reed, and the tide turns slowly over the flats"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := json.Marshal(p)
	now := time.Now()
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := Decode(raw, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodeCached(raw, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
