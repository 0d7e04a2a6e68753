package cborwire

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

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
	out, err := unmarshalList[Strings](data, unpackString)
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
	out, err := unmarshalList[Pairs](data, unpackPair)
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
	var two Strings
	if err := two.UnmarshalCBOR(item); err != nil {
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
func unmarshalList[L ~[]string](data []byte, unpack func([]byte) (string, error)) (L, error) {
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

// CBOR major types (RFC 8949, section 3.1), the top three bits of an
// item's first byte.
const (
	majorBytes = 2
	majorText  = 3
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
