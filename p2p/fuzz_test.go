package p2p

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/cborwire"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/live"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// FuzzDecodeMessage feeds arbitrary bytes to the decoder of every message a
// peer can send: it must refuse or bound them, never panic.
func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(`{"posts":[{"post":{"id":"x"},"keys":["t/a"]}]}`))
	f.Add([]byte(`{"digests":[{"k":"t/a","n":1,"d":"00"}]}`))
	f.Add([]byte(`{"lists":[{"k":"a/x/0","ids":["ab"]}]}`))
	f.Add([]byte(`{"tombstones":[null]}`))
	f.Add([]byte(`{"ports":[4001,0,65536]}`))
	f.Add([]byte(`{"reached":[1,2,3,4,5]}`))
	f.Add([]byte(`{"q":"cat dog","sort":"top","size":21,"keys":["t/cat","t/the/3"],"index":1,"stats":{"docs":10,"text_terms":40,"doc_freq":{"cat":3}}}`))
	f.Add([]byte(`{"hits":[{"post":{},"score":1.5,"sort":["1.5","ab"],"spans":[[0,3]]}],"total":1,"count":4}`))
	f.Add([]byte(`{"q":"from:news","size":9,"keys":["l/news/3","l/news/a","l/news/f"],"index":0,"span":3}`))
	f.Add([]byte(`{"q":"from:news","size":9,"keys":["l/news/3","l/news/3"],"index":0,"span":2}`))
	f.Add([]byte(`{"q":"from:news","size":9,"keys":["t/cat","l/news/3"],"index":1,"span":9223372036854775807}`))
	f.Add([]byte(`{"q":"the","size":9,"index":-5,"span":3}`))
	f.Add([]byte(`{"hits":[],"total":1,"count":4,"counts":[4,1,-3]}`))
	f.Add([]byte(`{"q":"from:news","size":4,"keys":["l/news/3"],"index":0,"digest":true,"digest_sum":true}`))
	f.Add([]byte(`{"digest":["0.25 0123456789abcdef0123456789abcdef","2026-01-02T03:04:05.678Z ffffffffffffffffffffffffffffffff","x"],"total":2,"count":2}`))
	f.Add([]byte(`{"digest_sum":"00112233445566778899aabbccddeeff","total":2,"count":2}`))
	f.Add([]byte(`{"keys":["t/cat"],"summary":true}`))
	f.Add([]byte(`{"counts":[1,2],"summary":{"posts":5,"terms":9,"hot":["the"]}}`))
	f.Add([]byte(`{"counts":[1,-2],"summary":{"groups":[{"owners":["12D3KooWA"],"posts":5,"terms":9,"hot":["the"]}]}}`))
	f.Add([]byte(`{"counts":[4294967297],"summary":{"groups":[{"owners":[],"posts":1099511627776,"terms":9}]}}`))
	f.Add([]byte(`{"counts":[30,9],"splits":[null,{"residual":0,"buckets":[{"month":"2026-10","count":4},{"month":"2026-11","count":5,"depth":2,"moving":true}]}]}`))
	f.Add([]byte(`{"counts":[9],"splits":[{"buckets":[{"month":"2026-11","count":5,"depth":9},{"month":"2026-10","count":-4,"moving":true}]}]}`))
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
		checkSearchAndStatsBounds(t, jsonCodec{}, body)
		var dr dialbackRequest
		if err := decodeMessage(body, &dr); err == nil {
			if len(dr.Ports) == 0 || len(dr.Ports) > MaxDialbackPorts || slices.ContainsFunc(dr.Ports, func(p int) bool { return p < 1 || p > 65535 }) {
				t.Fatalf("accepted a dial-back request for ports %v", dr.Ports)
			}
		}
		var da dialbackResponse
		if err := decodeMessage(body, &da); err == nil && len(da.Reached) > MaxDialbackPorts {
			t.Fatalf("accepted a dial-back answer of %d ports", len(da.Reached))
		}
		var lr live.Request
		if err := decodeMessage(body, &lr); err == nil && (len(lr.Query) > query.MaxQueryBytes || len(lr.Key) > 512) {
			t.Fatalf("accepted a standing search of %d query bytes and %d key bytes", len(lr.Query), len(lr.Key))
		}
		var lp live.Push
		if err := decodeMessage(body, &lp); err == nil && len(lp.Post) > post.MaxEncodedSize {
			t.Fatalf("accepted a pushed post of %d bytes", len(lp.Post))
		}
		var la live.Accepted
		if err := decodeMessage(body, &la); err == nil && len(la.Error) > 1024 {
			t.Fatalf("accepted an answer with an error of %d bytes", len(la.Error))
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

// FuzzDecodeCBORMessage feeds arbitrary bytes to the CBOR decoder of the
// search and stats protocols (cborwire): it must refuse or bound them,
// never panic, and a message it accepts must encode back to one it
// accepts alike.
func FuzzDecodeCBORMessage(f *testing.F) {
	for _, m := range []any{
		&netsearch.Request{Query: "cat dog", Sort: "top", Size: 21, Keys: []string{"t/cat", "t/the/3"}, Index: 1, Stats: &index.Stats{Docs: 10, TextTerms: 40, DocFreq: map[string]uint64{"cat": 3}}},
		&netsearch.Request{Query: "from:news", Size: 9, Keys: []string{"l/news/3", "l/news/a", "l/news/f"}, Span: 3, Digest: true},
		&netsearch.Request{Query: "from:news", Size: 9, Keys: []string{"t/cat", "l/news/3"}, Index: 1, Span: 1 << 62},
		&netsearch.Response{Hits: []query.EncodedHit{{Post: []byte(`{}`), Score: 1.5, Sort: []string{"1.5", "ab"}, Spans: [][2]int{{0, 3}}}}, Total: 1, Count: 4, Counts: []int{4, 1, -3}},
		&netsearch.Response{Digest: []string{"0.25 0123456789abcdef0123456789abcdef", "x"}, DigestSum: "00112233445566778899aabbccddeeff", Total: 2, Count: 2, Lent: true},
		&statsRequest{Keys: []string{"t/cat"}, Summary: true, Profiles: []string{"12D3KooWA"}},
		&statsResponse{Counts: []int{30, 9}, Splits: []*keyspace.Split{nil, {Residual: 2, Buckets: []keyspace.Bucket{{Month: "2026-10", Count: 4}, {Month: "2026-11", Count: 5, Depth: 2, Moving: true}}}}},
		&statsResponse{Counts: []int{1, -2}, Summary: &netsearch.Summary{Groups: []netsearch.GroupFigures{{Owners: []string{"12D3KooWA"}, Posts: 1 << 40, Terms: 9, Hot: []string{"the"}}}}},
	} {
		b, err := cborwire.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xa1, 0x08, 0x9a, 0xff, 0xff, 0xff, 0xff})                         // keys: an array of 2^32
	f.Add([]byte{0xa2, 0x01, 0x61, 'a', 0x01, 0x61, 'b'})                           // a key twice
	f.Add([]byte{0xa2, 0x01, 0x61, 'a', 0x08, 0x9f, 0x61, 'x', 0xff})               // an indefinite array
	f.Add([]byte{0xa1, 0x01, 0xd8, 0x20, 0x61, 'a'})                                // a tag
	f.Add([]byte{0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x80}) // nesting
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSearchAndStatsBounds(t, cborCodec{}, body)
		var q netsearch.Request
		if err := decodeWith(cborCodec{}, body, &q); err == nil {
			again, err := cborwire.Marshal(&q)
			if err != nil {
				t.Fatalf("an accepted request does not encode: %v", err)
			}
			var back netsearch.Request
			if err := decodeWith(cborCodec{}, again, &back); err != nil {
				t.Fatalf("an accepted request, encoded again, is refused: %v", err)
			}
		}
	})
}

// checkSearchAndStatsBounds decodes body, in codec c, as every message of
// the search and stats protocols and fails t when one is accepted beyond
// its bounds.
func checkSearchAndStatsBounds(t *testing.T, c codec, body []byte) {
	var q netsearch.Request
	if err := decodeWith(c, body, &q); err == nil {
		if len(q.Query) > netsearch.MaxQueryBytes || q.Size < 0 || q.Size > netsearch.MaxSize || len(q.Keys) > netsearch.MaxKeys {
			t.Fatalf("accepted an unbounded search request: %d bytes, size %d, %d keys", len(q.Query), q.Size, len(q.Keys))
		}
		if len(q.Keys) > 0 && (q.Index < 0 || q.Index >= len(q.Keys)) {
			t.Fatalf("accepted index %d of %d keys", q.Index, len(q.Keys))
		}
		if q.Span > 1 {
			if len(q.Keys) == 0 || q.Span > len(q.Keys)-q.Index {
				t.Fatalf("accepted a span of %d from key %d of %d", q.Span, q.Index, len(q.Keys))
			}
			parsed, err := keyspace.ParseAll(q.Keys[q.Index : q.Index+q.Span])
			if err != nil || keyspace.CheckSpan(parsed) != nil {
				t.Fatalf("accepted a span of keys that are not shards of one key: %v", q.Keys[q.Index:q.Index+q.Span])
			}
		}
		if q.Stats != nil && len(q.Stats.DocFreq) > netsearch.MaxStatsTerms {
			t.Fatalf("accepted %d statistics", len(q.Stats.DocFreq))
		}
	}
	var qr netsearch.Response
	if err := decodeWith(c, body, &qr); err == nil {
		if len(qr.Hits) > netsearch.MaxSize || len(qr.Counts) > keyspace.HotShards || len(qr.Digest) > netsearch.MaxSize || len(qr.DigestSum) > netsearch.MaxDigestSum {
			t.Fatalf("accepted %d hits, %d counts, %d digest entries and a checksum of %d bytes", len(qr.Hits), len(qr.Counts), len(qr.Digest), len(qr.DigestSum))
		}
		for _, e := range qr.Digest {
			if len(e) > netsearch.MaxDigestEntry {
				t.Fatalf("accepted a digest entry of %d bytes", len(e))
			}
			for _, s := range []query.Sort{query.SortTop, query.SortLatest} {
				if v, id, err := netsearch.ParseDigestEntry(s, e); err == nil && (len(id) != netsearch.DigestIDChars || query.CheckAfter(s, []string{v, id}) != nil) {
					t.Fatalf("parsed digest entry %q into %q and %q", e, v, id)
				}
			}
		}
		for _, c := range qr.Counts {
			if c < 0 || c > netsearch.MaxKeyCount {
				t.Fatalf("accepted a key count of %d", c)
			}
		}
	}
	var sq statsRequest
	if err := decodeWith(c, body, &sq); err == nil && len(sq.Keys) > netsearch.MaxStatsTerms {
		t.Fatalf("accepted %d stats keys", len(sq.Keys))
	}
	var sp statsResponse
	if err := decodeWith(c, body, &sp); err == nil {
		for _, c := range sp.Counts {
			if c < 0 || c > netsearch.MaxKeyCount {
				t.Fatalf("accepted a key count of %d", c)
			}
		}
		if len(sp.Splits) > netsearch.MaxStatsTerms {
			t.Fatalf("accepted %d split records", len(sp.Splits))
		}
		for _, r := range sp.Splits {
			if r == nil {
				continue
			}
			if r.Check() != nil || r.Total() > netsearch.MaxKeyCount {
				t.Fatalf("accepted an implausible split record %+v", *r)
			}
			for _, n := range r.Leaves(keyspace.RootNode(keyspace.ClassTerm, "cat"), time.Time{}, time.Time{}) {
				if _, err := keyspace.ParseNode(n.String()); err != nil {
					t.Fatalf("split record %+v leads to the leaf %s, which does not parse: %v", *r, n, err)
				}
			}
		}
		if sp.Summary != nil {
			if len(sp.Summary.Groups) > netsearch.MaxSummaryGroups {
				t.Fatalf("accepted %d groups", len(sp.Summary.Groups))
			}
			for _, g := range sp.Summary.Groups {
				if g.Posts > netsearch.MaxGroupFigure || g.Terms > netsearch.MaxGroupFigure || len(g.Hot) > keyspace.MaxHotTerms || len(g.Owners) > netsearch.MaxGroupOwners {
					t.Fatalf("accepted an implausible group: %d posts, %d terms, %d hot, %d owners", g.Posts, g.Terms, len(g.Hot), len(g.Owners))
				}
			}
		}
	}
}
