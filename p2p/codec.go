package p2p

import (
	"encoding/json"
	"strings"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/murmur-p2p/murmur/internal/cborwire"
)

// A codec encodes the bodies of one version of a protocol. The store,
// sync, live and dial-back protocols send JSON. The search and stats
// protocols send CBOR (RFC 8949, fields as small integer keys) from
// SearchVersionCBOR and StatsVersionCBOR on, and JSON in the versions
// before (SearchVersionJSON, StatsVersionJSON), which a node still serves and
// falls back to for peers that have no other: the encoding of a stream
// follows from its protocol ID alone.
type codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(body []byte, v any) error
}

type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(body []byte, v any) error { return json.Unmarshal(body, v) }

// cborCodec is cborwire's encoding.
type cborCodec struct{}

func (cborCodec) Marshal(v any) ([]byte, error)      { return cborwire.Marshal(v) }
func (cborCodec) Unmarshal(body []byte, v any) error { return cborwire.Unmarshal(body, v) }

// codecFor is the codec of protocol ID id: CBOR for the search and stats
// protocols from their CBOR versions on, JSON for every other.
func codecFor(id protocol.ID) codec {
	name, version := protocolParts(id)
	switch {
	case name == "search" && (version == SearchVersion || version == SearchVersionCBOR),
		name == "stats" && (version == StatsVersion || version == StatsVersionCBOR):
		return cborCodec{}
	}
	return jsonCodec{}
}

// protocolParts splits a murmur protocol ID, /murmur/<network>/<name>/<version>,
// into its name and version; both empty for any other ID. It allocates
// nothing: every request asks it.
func protocolParts(id protocol.ID) (name, version string) {
	rest, ok := strings.CutPrefix(string(id), "/murmur/")
	if !ok {
		return "", ""
	}
	if _, rest, ok = strings.Cut(rest, "/"); !ok { // the network
		return "", ""
	}
	if name, version, ok = strings.Cut(rest, "/"); !ok || strings.Contains(version, "/") {
		return "", ""
	}
	return name, version
}

// streamCodec is the codec of a stream (anything with a protocol ID), and
// JSON for any other reader or writer.
func streamCodec(x any) codec {
	if s, ok := x.(interface{ Protocol() protocol.ID }); ok {
		return codecFor(s.Protocol())
	}
	return jsonCodec{}
}
