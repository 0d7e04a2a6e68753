package cborwire

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestStringsAreSmallerAndComeBackExactly: scores go as floats and IDs as
// bytes, in about half the bytes of text, and every string, packed or
// not, decodes to itself.
func TestStringsAreSmallerAndComeBackExactly(t *testing.T) {
	s := Strings{"3.4628942841227977", "aa251b847b9a02db0ccfc59d78de9780aa251b847b9a02db0ccfc59d78de9780", "1e10", "NaN", "+Inf", "-0", "12", "", "2026-01-02T03:04:05.678Z", "0.1", "abc", "AB", "00"}
	got := roundTrip(t, s)
	if !slices.Equal(got, s) {
		t.Fatalf("round trip: %q, want %q", got, s)
	}
	p := Pairs{"3.4628942841227977 aa251b847b9a02db0ccfc59d78de9780", "2026-01-02T03:04:05.678Z ffffffffffffffffffffffffffffffff", "x", "a b c", " ", ""}
	var back Pairs
	b, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := Unmarshal(b, &back); err != nil || !slices.Equal(back, p) {
		t.Fatalf("round trip of pairs: %q, %v; want %q", back, err, p)
	}
	sum := String("c249600a814c4647d88ae516cc5397e5")
	b, _ = Marshal(sum)
	var sumBack String
	if err := Unmarshal(b, &sumBack); err != nil || sumBack != sum || len(b) != 17 {
		t.Fatalf("a checksum packs into %d bytes and comes back as %q, %v", len(b), sumBack, err)
	}
	packed, _ := Marshal(Pairs{p[0]})
	text, _ := Marshal([]string{p[0]})
	if len(packed) >= len(text)*6/10 {
		t.Fatalf("a digest entry packs into %d bytes, as text %d: want under 60%%", len(packed), len(text))
	}
}

func roundTrip(t *testing.T, s Strings) Strings {
	t.Helper()
	b, err := Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Strings
	if err := Unmarshal(b, &back); err != nil {
		t.Fatalf("decode %x: %v", b, err)
	}
	return back
}

// FuzzStrings: any list of UTF-8 strings comes back exactly, and any bytes the
// decoder accepts encode to bytes it decodes to the same strings.
func FuzzStrings(f *testing.F) {
	f.Add("3.5 ab", []byte{0x82, 0xf9, 0x3e, 0x00, 0x41, 0xab})
	f.Add("NaN 00 x", []byte{0x81, 0x82, 0x61, 'a', 0x41, 0x00})
	f.Add("", []byte{0x9a, 0xff, 0xff, 0xff, 0xff})
	f.Add("1e10 -0", []byte{0x81, 0xf6})
	f.Fuzz(func(t *testing.T, joined string, body []byte) {
		s := Strings(strings.Split(joined, " "))
		// Text must be UTF-8 (the decoder refuses any other, as every
		// string of a message comes from checked text), so only valid
		// strings need come back.
		if !utf8.ValidString(joined) {
			s = nil
		}
		if got := roundTrip(t, s); !slices.Equal(got, s) {
			t.Fatalf("round trip: %q, want %q", got, s)
		}
		var st Strings
		if Unmarshal(body, &st) == nil {
			if again := roundTrip(t, st); !slices.Equal(again, st) {
				t.Fatalf("accepted %x as %q, which comes back as %q", body, st, again)
			}
		}
		var p Pairs
		if Unmarshal(body, &p) == nil {
			b, err := Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var back Pairs
			if err := Unmarshal(b, &back); err != nil || !slices.Equal(back, p) {
				t.Fatalf("accepted %x as %q, which comes back as %q (%v)", body, p, back, err)
			}
		}
	})
}

// FuzzFastListIsTheLibrarys: whatever list the hand-written reading
// accepts, the CBOR library's reads the same, element for element; and
// the decoding callers use gives what the library alone gives, error or
// list.
func FuzzFastListIsTheLibrarys(f *testing.F) {
	for _, s := range []Strings{
		{"3.4628942841227977", "aa251b847b9a02db0ccfc59d78de9780", "1e10", "NaN", "+Inf", "-Inf", "-0", "65504", "6e-08", "x", ""},
		{"2026-01-02T03:04:05.678Z", "00"},
		nil,
	} {
		b, err := Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	p, err := Marshal(Pairs{"3.4628942841227977 aa251b847b9a02db0ccfc59d78de9780", "x", "a b c", " ", ""})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(p)
	f.Add([]byte{0x82, 0xf9, 0x7e, 0x01, 0xf9, 0x80, 0x00})           // a NaN with a payload, -0 as half floats
	f.Add([]byte{0x82, 0x78, 0x01, 'a', 0x59, 0x00, 0x01, 0xab})      // lengths in longer heads than needed
	f.Add([]byte{0x81, 0x62, 0xff, 0xfe})                             // text that is not UTF-8
	f.Add([]byte{0x81, 0x40})                                         // empty bytes
	f.Add([]byte{0x82, 0x82, 0x61, 'a', 0x41, 0x01, 0x81, 0x61, 'b'}) // a pair, then an array of one
	f.Fuzz(func(t *testing.T, body []byte) {
		same := func(what string, fast func([]byte) (string, []byte, bool), unpack func([]byte) (string, error), public func([]byte) ([]string, error)) {
			slow, slowErr := unmarshalListSlow[[]string](body, unpack)
			if got, ok := decodeFast[[]string](body, fast); ok && (slowErr != nil || !slices.Equal(got, slow)) {
				t.Fatalf("%s: read %x by hand as %q; the library gives %q, %v", what, body, got, slow, slowErr)
			}
			got, err := public(body)
			if (err == nil) != (slowErr == nil) || !slices.Equal(got, slow) {
				t.Fatalf("%s: decoded %x as %q, %v; the library gives %q, %v", what, body, got, err, slow, slowErr)
			}
		}
		same("strings", unpackFast, unpackString, func(b []byte) ([]string, error) {
			var s Strings
			err := Unmarshal(b, &s)
			return s, err
		})
		same("pairs", unpackPairFast, unpackPair, func(b []byte) ([]string, error) {
			var p Pairs
			err := Unmarshal(b, &p)
			return p, err
		})
	})
}
