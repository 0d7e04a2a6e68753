package main

import (
	"fmt"
	"strconv"
	"strings"
)

// sizeFlag is a byte size given as a number with an optional unit: B, KB,
// MB, GB, TB (powers of 1,000) or KiB, MiB, GiB, TiB (powers of 1,024).
type sizeFlag int64

var sizeUnits = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

func (s *sizeFlag) String() string {
	n := int64(*s)
	for i := 3; i >= 0; i-- { // the largest binary unit that divides n
		if u := sizeUnits[i]; n >= u.factor && n%u.factor == 0 {
			return fmt.Sprintf("%d%s", n/u.factor, u.suffix)
		}
	}
	return strconv.FormatInt(n, 10)
}

// Type names the value in help (pflag.Value).
func (s *sizeFlag) Type() string { return "size" }

func (s *sizeFlag) Set(v string) error {
	v = strings.TrimSpace(v)
	factor := int64(1)
	for _, u := range sizeUnits {
		if len(v) > len(u.suffix) && strings.EqualFold(v[len(v)-len(u.suffix):], u.suffix) {
			v, factor = strings.TrimSpace(v[:len(v)-len(u.suffix)]), u.factor
			break
		}
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || !(n >= 0 && n*float64(factor) <= 1<<62) {
		return fmt.Errorf("%q is not a size; write e.g. 256MiB, 2GiB or 0", v)
	}
	*s = sizeFlag(n * float64(factor))
	return nil
}

// watermark is the flag as node.Config.MinFreeBytes: 0 turns it off.
func (s sizeFlag) watermark() int64 {
	if s == 0 {
		return -1
	}
	return int64(s)
}
