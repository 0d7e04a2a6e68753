package p2p

import (
	"bytes"
	"testing"
)

// FuzzDecodeMessage feeds arbitrary bytes to the decoder of every message a
// peer can send: it must refuse or bound them, never panic.
func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(`{"posts":[{"post":{"id":"x"},"keys":["t/a"]}]}`))
	f.Add([]byte(`{"digests":[{"k":"t/a","n":1,"d":"00"}]}`))
	f.Add([]byte(`{"lists":[{"k":"a/x/0","ids":["ab"]}]}`))
	f.Add([]byte(`{"tombstones":[null]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var sr storeRequest
		srErr := decodeMessage(body, &sr)
		if srErr == nil && len(sr.Posts) > MaxPostsPerStore {
			t.Fatalf("accepted %d posts", len(sr.Posts))
		}
		var yr syncRequest
		if err := decodeMessage(body, &yr); err == nil {
			if len(yr.Digests) > MaxDigestsPerSync {
				t.Fatalf("accepted %d digests", len(yr.Digests))
			}
		}
		// A request the decoder accepted survives the framed round trip.
		var buf bytes.Buffer
		if _, err := writeMessage(&buf, &sr); srErr == nil && err == nil {
			var back storeRequest
			if _, err := readMessage(&buf, &back); err != nil && len(sr.Posts) > 0 {
				t.Fatalf("round trip of a valid request failed: %v", err)
			}
		}
	})
}
