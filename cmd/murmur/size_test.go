package main

import "testing"

func TestSizeFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"256MiB", 256 << 20, true}, {"2GiB", 2 << 30, true}, {"1.5GB", 1.5e9, true},
		{"100", 100, true}, {"10 kib", 10 << 10, true}, {"5B", 5, true},
		{"", 0, false}, {"-1MiB", 0, false}, {"lots", 0, false}, {"9999999TiB", 0, false}, {"MiB", 0, false},
	} {
		var s sizeFlag
		err := s.Set(tc.in)
		if (err == nil) != tc.ok || (tc.ok && int64(s) != tc.want) {
			t.Errorf("Set(%q) = %d, %v; want %d, ok %v", tc.in, s, err, tc.want, tc.ok)
		}
	}
	s := sizeFlag(256 << 20)
	if s.String() != "256MiB" {
		t.Errorf("String() = %q, want 256MiB", s.String())
	}
}

// FuzzSizeFlag: any text either fails or gives a size that prints and
// parses back to itself.
func FuzzSizeFlag(f *testing.F) {
	for _, seed := range []string{"256MiB", "1.5GB", "0", "-3", "1e30TiB", "NaN", "12 kb"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s sizeFlag
		if err := s.Set(in); err != nil {
			return
		}
		if s < 0 {
			t.Fatalf("Set(%q) gave a negative size %d", in, s)
		}
		var back sizeFlag
		if err := back.Set(s.String()); err != nil || back != s {
			t.Fatalf("%q -> %d -> %q -> %d, %v", in, s, s.String(), back, err)
		}
	})
}
