package cborwire

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// Strings is a list of strings that goes on the wire in fewer bytes than
// text: an element that is a float as strconv.FormatFloat(f, 'g', -1, 64)
// writes it (a score) goes as a CBOR float, one of lower-case hex digits
// (a post ID) as the bytes they spell, and any other as text. Each decodes
// back to the very string it was, so checksums over the strings hold.
type Strings []string

// MarshalCBOR encodes s element by element (packString).
func (s Strings) MarshalCBOR() ([]byte, error) { return marshalList(s, packString) }

// UnmarshalCBOR decodes what MarshalCBOR encodes.
func (s *Strings) UnmarshalCBOR(data []byte) error {
	out, err := unmarshalList[Strings](data, unpackString, unpackFast)
	if err != nil {
		return err
	}
	*s = out
	return nil
}

// Pairs is a list of strings of two parts, "value id" (a digest entry: a
// sort value and the start of a post ID), each on the wire as an array of
// its two parts packed like Strings' elements; an element not of two
// parts goes as text.
type Pairs []string

// MarshalCBOR encodes p element by element.
func (p Pairs) MarshalCBOR() ([]byte, error) { return marshalList(p, packPair) }

// UnmarshalCBOR decodes what MarshalCBOR encodes.
func (p *Pairs) UnmarshalCBOR(data []byte) error {
	out, err := unmarshalList[Pairs](data, unpackPair, unpackPairFast)
	if err != nil {
		return err
	}
	*p = out
	return nil
}

// packPair encodes "value id" as the array of its two parts packed, and
// any other string as text.
func packPair(e string) ([]byte, error) {
	value, id, ok := strings.Cut(e, " ")
	if !ok || strings.Contains(id, " ") {
		return encoding.Marshal(e)
	}
	return Strings{value, id}.MarshalCBOR()
}

// unpackPair decodes what packPair encodes.
func unpackPair(item []byte) (string, error) {
	if len(item) > 0 && item[0]>>5 == majorText {
		var s string
		err := decoding.Unmarshal(item, &s)
		return s, err
	}
	two, err := unmarshalListSlow[Strings](item, unpackString)
	if err != nil {
		return "", err
	}
	if len(two) != 2 {
		return "", fmt.Errorf("a pair of %d parts", len(two))
	}
	return two[0] + " " + two[1], nil
}

// marshalList encodes list as a CBOR array of its elements, each packed
// by pack; nil as null.
func marshalList[L ~[]string](list L, pack func(string) ([]byte, error)) ([]byte, error) {
	if list == nil {
		return encoding.Marshal(nil)
	}
	items := make([]cbor.RawMessage, len(list))
	for i, v := range list {
		b, err := pack(v)
		if err != nil {
			return nil, err
		}
		items[i] = b
	}
	return encoding.Marshal(items)
}

// unmarshalList decodes what marshalList encodes, each element by unpack.
// A list whose elements fast reads all (the forms marshalList writes) is
// read by hand (decodeFast); any other goes through the CBOR library,
// which also says what is wrong with it. A hit's sort values are such a
// list, and the library's call for each element was 8% of a querier's
// CPU at N=8. FuzzFastListIsTheLibrarys holds both ways equal.
func unmarshalList[L ~[]string](data []byte, unpack func([]byte) (string, error), fast func([]byte) (string, []byte, bool)) (L, error) {
	if out, ok := decodeFast[L](data, fast); ok {
		return out, nil
	}
	return unmarshalListSlow[L](data, unpack)
}

// unmarshalListSlow is unmarshalList through the CBOR library alone.
func unmarshalListSlow[L ~[]string](data []byte, unpack func([]byte) (string, error)) (L, error) {
	var items []cbor.RawMessage
	if err := decoding.Unmarshal(data, &items); err != nil || items == nil {
		return nil, err
	}
	out := make(L, len(items))
	for i, it := range items {
		v, err := unpack(it)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// decodeFast reads data as a definite-length array of at most MaxArray
// items, each of which fast reads (unpackFast for Strings' elements,
// unpackPairFast for Pairs'), and nothing after it. It returns false for
// anything else, which is then left to the library.
func decodeFast[L ~[]string](data []byte, fast func([]byte) (string, []byte, bool)) (L, bool) {
	n, rest, ok := head(data, majorArray)
	if !ok || n > MaxArray {
		return nil, false
	}
	out := make(L, n)
	for i := range out {
		var v string
		if v, rest, ok = fast(rest); !ok {
			return nil, false
		}
		out[i] = v
	}
	return out, len(rest) == 0
}

// unpackPairFast reads one element of Pairs from the start of data: text,
// or an array of two items unpackFast reads.
func unpackPairFast(data []byte) (string, []byte, bool) {
	if len(data) > 0 && data[0]>>5 == majorText {
		return unpackFast(data)
	}
	n, rest, ok := head(data, majorArray)
	if !ok || n != 2 {
		return "", nil, false
	}
	value, rest, ok := unpackFast(rest)
	if !ok {
		return "", nil, false
	}
	id, rest, ok := unpackFast(rest)
	if !ok {
		return "", nil, false
	}
	return value + " " + id, rest, true
}

// unpackFast reads one element of Strings from the start of data, as
// unpackString would: UTF-8 text, non-empty bytes or a float of 16, 32 or
// 64 bits. It returns the string, what follows the item, and false for
// any other item.
func unpackFast(data []byte) (string, []byte, bool) {
	if len(data) == 0 {
		return "", nil, false
	}
	switch data[0] >> 5 {
	case majorText, majorBytes:
		major := data[0] >> 5
		n, rest, ok := head(data, major)
		if !ok || n > uint64(len(rest)) || (major == majorBytes && n == 0) {
			return "", nil, false
		}
		body := rest[:n]
		if major == majorBytes {
			return hex.EncodeToString(body), rest[n:], true
		}
		if !utf8.Valid(body) {
			return "", nil, false
		}
		return string(body), rest[n:], true
	case majorOther:
		var f float64
		switch data[0] & 0x1f {
		case 25:
			if len(data) < 3 {
				return "", nil, false
			}
			f = halfToFloat64(binary.BigEndian.Uint16(data[1:3]))
			data = data[3:]
		case 26:
			if len(data) < 5 {
				return "", nil, false
			}
			f = float64(math.Float32frombits(binary.BigEndian.Uint32(data[1:5])))
			data = data[5:]
		case 27:
			if len(data) < 9 {
				return "", nil, false
			}
			f = math.Float64frombits(binary.BigEndian.Uint64(data[1:9]))
			data = data[9:]
		default:
			return "", nil, false
		}
		return strconv.FormatFloat(f, 'g', -1, 64), data, true
	}
	return "", nil, false
}

// head reads the head of an item of the given major type with a definite
// length (RFC 8949, section 3): its argument and what follows it.
func head(data []byte, major byte) (uint64, []byte, bool) {
	if len(data) == 0 || data[0]>>5 != major {
		return 0, nil, false
	}
	info := data[0] & 0x1f
	switch {
	case info < 24:
		return uint64(info), data[1:], true
	case info == 24 && len(data) >= 2:
		return uint64(data[1]), data[2:], true
	case info == 25 && len(data) >= 3:
		return uint64(binary.BigEndian.Uint16(data[1:3])), data[3:], true
	case info == 26 && len(data) >= 5:
		return uint64(binary.BigEndian.Uint32(data[1:5])), data[5:], true
	case info == 27 && len(data) >= 9:
		return binary.BigEndian.Uint64(data[1:9]), data[9:], true
	}
	return 0, nil, false
}

// halfToFloat64 is the value of an IEEE 754 half-precision float.
func halfToFloat64(h uint16) float64 {
	exp, frac := int(h>>10&0x1f), float64(h&0x3ff)
	var f float64
	switch exp {
	case 0:
		f = math.Ldexp(frac, -24)
	case 0x1f:
		if frac != 0 {
			return math.NaN()
		}
		f = math.Inf(1)
	default:
		f = math.Ldexp(frac+1024, exp-25)
	}
	if h&0x8000 != 0 {
		f = -f
	}
	return f
}

// CBOR major types (RFC 8949, section 3.1), the top three bits of an
// item's first byte.
const (
	majorBytes = 2
	majorText  = 3
	majorArray = 4
	majorOther = 7 // floats among them
)

// packString encodes v as a float, as bytes or as text, whichever gives
// v back exactly.
func packString(v string) ([]byte, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil && strconv.FormatFloat(f, 'g', -1, 64) == v {
		return encoding.Marshal(f)
	}
	if len(v) > 0 && len(v)%2 == 0 && strings.Trim(v, "0123456789abcdef") == "" {
		b, _ := hex.DecodeString(v)
		return encoding.Marshal(b)
	}
	return encoding.Marshal(v)
}

// unpackString decodes what packString encodes.
func unpackString(item []byte) (string, error) {
	if len(item) == 0 {
		return "", errors.New("an empty item")
	}
	switch item[0] >> 5 {
	case majorText:
		var s string
		err := decoding.Unmarshal(item, &s)
		return s, err
	case majorBytes:
		var b []byte
		if err := decoding.Unmarshal(item, &b); err != nil {
			return "", err
		}
		if len(b) == 0 {
			return "", errors.New("empty bytes for a hex string")
		}
		return hex.EncodeToString(b), nil
	case majorOther:
		var f float64
		if err := decoding.Unmarshal(item, &f); err != nil {
			return "", err
		}
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	}
	return "", fmt.Errorf("an item of major type %d where a string belongs", item[0]>>5)
}

// String is one string packed like Strings' elements (a checksum in hex
// goes as its bytes).
type String string

// MarshalCBOR encodes s as packString does.
func (s String) MarshalCBOR() ([]byte, error) { return packString(string(s)) }

// UnmarshalCBOR decodes what MarshalCBOR encodes.
func (s *String) UnmarshalCBOR(data []byte) error {
	v, err := unpackString(data)
	if err != nil {
		return err
	}
	*s = String(v)
	return nil
}
