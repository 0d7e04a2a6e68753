package post

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// FuzzDecode feeds arbitrary bytes to the decoders of records that arrive from
// the network and from users: they must never panic, and whatever they accept
// must verify and survive a round trip with the same ID.
func FuzzDecode(f *testing.F) {
	key := testKey(f)
	now := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	p, _ := Sign(key, Draft{Text: "seed #post @someone https://example.org", Lang: "en"}, now)
	good, _ := json.Marshal(p)
	ts, _ := SignTombstone(key, p.ID, now)
	goodTS, _ := json.Marshal(ts)
	worked, _ := SignWork(context.Background(), key, Draft{Text: "a post with work", Label: "Tide Watcher"}, now, 6)
	goodWork, _ := json.Marshal(worked)
	prof, _ := SignProfile(key, "Tide Watcher", "I watch the tide.\nTwice a day.", now)
	goodProfile, _ := json.Marshal(prof)
	f.Add(good)
	f.Add(goodTS)
	f.Add(goodProfile)
	f.Add(goodWork)
	f.Add([]byte(`{"id":"00","author":"x","text":"","sig":"AA=="}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// DecodeCached, from its cache or not, accepts what Decode accepts
		// and gives the same post.
		got, err := Decode(data, now)
		for range 2 {
			cached, cerr := DecodeCached(data, now)
			if (err == nil) != (cerr == nil) || err == nil && (cached.ID != got.ID || cached.Text != got.Text || !cached.CreatedAt.Equal(got.CreatedAt) || string(cached.Sig) != string(got.Sig)) {
				t.Fatalf("Decode: %+v, %v; DecodeCached: %+v, %v", got, err, cached, cerr)
			}
		}
		if err == nil {
			if err := got.Verify(now); err != nil {
				t.Fatalf("accepted post does not verify: %v", err)
			}
			enc, _ := json.Marshal(got)
			again, err := Decode(enc, now)
			if err != nil || again.ID != got.ID {
				t.Fatalf("round trip of accepted post failed: %v", err)
			}
		}
		if got, err := DecodeTombstone(data); err == nil {
			if err := got.Verify(); err != nil {
				t.Fatalf("accepted tombstone does not verify: %v", err)
			}
		}
		if got, err := DecodeProfile(data); err == nil {
			enc, _ := json.Marshal(got)
			again, err := DecodeProfile(enc)
			if err != nil || again.ID != got.ID || again.Name != got.Name || again.Bio != got.Bio {
				t.Fatalf("round trip of accepted profile failed: %v", err)
			}
		}
	})
}

// FuzzDecodeKeyExport feeds arbitrary bytes to the decoder of exported
// identity keys, which reads files users hand to 'murmur key import': it
// must never panic, and a key it accepts must export to bytes it accepts
// again as the same key.
func FuzzDecodeKeyExport(f *testing.F) {
	good, err := ExportKey(testKey(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(append([]byte("\n"), good...))
	f.Add([]byte("-----BEGIN MURMUR IDENTITY KEY-----\nPeer-Id: x\n\nAAAA\n-----END MURMUR IDENTITY KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := DecodeKeyExport(data)
		if err != nil {
			return
		}
		again, err := ExportKey(key)
		if err != nil {
			t.Fatalf("accepted key does not export: %v", err)
		}
		back, err := DecodeKeyExport(again)
		if err != nil || !back.Equals(key) {
			t.Fatalf("round trip of an accepted key failed: %v", err)
		}
	})
}
