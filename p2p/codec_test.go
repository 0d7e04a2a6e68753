package p2p

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// TestSearchAndStatsSpeakCBORAndFallBackToJSON: a node asks its peers in
// the search and stats protocols' CBOR versions, and a peer of the version
// before, which serves their JSON versions alone, is asked in JSON and
// answers the same, in more bytes.
func TestSearchAndStatsSpeakCBORAndFallBackToJSON(t *testing.T) {
	querier, owner, key := startKestrelNetwork(t, false)
	ctx := context.Background()
	req := &netsearch.Request{Query: "kestrel", Sort: "top", Size: 10, Keys: []string{key}}
	bytesOf := func(protocol string, ask func() error) float64 {
		t.Helper()
		reg := querier.cfg.Metrics.(prometheus.Gatherer)
		before := metrics.Value(reg, metrics.ProtocolBytes, "protocol", protocol, "direction", "in") + metrics.Value(reg, metrics.ProtocolBytes, "protocol", protocol, "direction", "out")
		if err := ask(); err != nil {
			t.Fatalf("%s: %v", protocol, err)
		}
		return metrics.Value(reg, metrics.ProtocolBytes, "protocol", protocol, "direction", "in") + metrics.Value(reg, metrics.ProtocolBytes, "protocol", protocol, "direction", "out") - before
	}
	// The owner records a split of another term, which its count answers
	// carry in either codec.
	split := keyspace.Split{Residual: 3, Buckets: []keyspace.Bucket{{Month: "2026-10", Count: 40}, {Month: "2026-11", Count: 25000, Depth: 2, Moving: true}}}
	if err := owner.SetSplit(ctx, "t/harrier", split); err != nil {
		t.Fatal(err)
	}
	var answers [2]*netsearch.Response
	var counts [2][]netsearch.KeyCount
	var searchBytes, statsBytes [2]float64
	for i, version := range []string{"current", "before"} {
		if version == "before" {
			// The owner stops serving the CBOR versions, and the querier
			// learns it as identify pushes the change, as it would have
			// learnt it at first contact from a node that never had them.
			cbor := []protocol.ID{SearchProtocol(owner.cfg.Network), SearchProtocolCBOR(owner.cfg.Network), StatsProtocol(owner.cfg.Network), StatsProtocolCBOR(owner.cfg.Network)}
			for _, id := range cbor {
				owner.Host().RemoveStreamHandler(id)
			}
			ResetStreams(owner.Host(), cbor...)
			poll.Until(t, "the querier knows the owner speaks JSON alone", 10*time.Second, 20*time.Millisecond, func() bool {
				left, _ := querier.Host().Peerstore().SupportsProtocols(owner.ID(), cbor...)
				return len(left) == 0
			})
		}
		searchBytes[i] = bytesOf(metrics.ProtocolSearch, func() (err error) {
			answers[i], err = querier.Search(ctx, owner.ID(), req)
			return err
		})
		statsBytes[i] = bytesOf(metrics.ProtocolStats, func() (err error) {
			counts[i], err = querier.Counts(ctx, owner.ID(), []string{key, "t/harrier"})
			return err
		})
	}
	if len(answers[0].Hits) != 10 || answers[0].Total != 30 {
		t.Fatalf("the CBOR answer has %d hits of %d, want 10 of 30", len(answers[0].Hits), answers[0].Total)
	}
	for i, h := range answers[0].Hits {
		o := answers[1].Hits[i]
		if h.Score != o.Score || !slices.Equal(h.Sort, o.Sort) || string(h.Post) != string(o.Post) {
			t.Fatalf("hit %d differs: CBOR %+v, JSON %+v", i, h, o)
		}
	}
	if answers[0].Total != answers[1].Total || answers[0].Count != answers[1].Count || counts[0][0] != counts[1][0] || counts[0][0].Count != 30 {
		t.Fatalf("CBOR and JSON answers differ: totals %d and %d, counts %+v and %+v", answers[0].Total, answers[1].Total, counts[0], counts[1])
	}
	for i := range counts {
		if got := counts[i][1]; got.Count != split.Total() || got.Split == nil || !reflect.DeepEqual(*got.Split, split) {
			t.Fatalf("%s codec: the split term's count %+v, want %d and %+v", []string{"CBOR", "JSON"}[i], got, split.Total(), split)
		}
	}
	if searchBytes[0] >= searchBytes[1] || statsBytes[0] >= statsBytes[1] {
		t.Fatalf("CBOR exchanges are not the smaller: search %v B against JSON %v B, stats %v B against %v B", searchBytes[0], searchBytes[1], statsBytes[0], statsBytes[1])
	}
	t.Logf("search %v B in CBOR, %v B in JSON; stats %v B and %v B", searchBytes[0], searchBytes[1], statsBytes[0], statsBytes[1])
}

// TestProtocolParts: the name and version of murmur's protocol IDs, and
// nothing of any other ID, which codecFor and carriesMany read.
func TestProtocolParts(t *testing.T) {
	for id, want := range map[protocol.ID][2]string{
		SearchProtocol("main"):        {"search", SearchVersion},
		StatsProtocolJSON("main"):     {"stats", StatsVersionJSON},
		"/murmur//search/6.0.0":       {"search", "6.0.0"},
		"/murmur/main/search/6.0.0/x": {"", ""},
		"/murmur/main/search":         {"", ""},
		"/murmur/main":                {"", ""},
		"murmur/main/search/6.0.0":    {"", ""},
		"/other/main/search/6.0.0":    {"", ""},
		"/ipfs/kad/1.0.0":             {"", ""},
		"":                            {"", ""},
	} {
		if name, version := protocolParts(id); name != want[0] || version != want[1] {
			t.Errorf("protocolParts(%q) = %q, %q; want %q, %q", id, name, version, want[0], want[1])
		}
	}
	if !carriesMany(SearchProtocol("main")) || carriesMany(SearchProtocolCBOR("main")) || carriesMany(StoreProtocol("main")) {
		t.Error("carriesMany: want the current search protocol alone of these")
	}
	if _, ok := codecFor(SearchProtocolCBOR("main")).(cborCodec); !ok {
		t.Error("codecFor: the CBOR search version is not CBOR")
	}
	if _, ok := codecFor(SearchProtocolJSON("main")).(jsonCodec); !ok {
		t.Error("codecFor: the JSON search version is not JSON")
	}
}
