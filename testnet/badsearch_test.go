package testnet_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-msgio"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/query"
	"github.com/murmur-p2p/murmur/query/netsearch"
	"github.com/murmur-p2p/murmur/testnet"
)

// TestHostileSearchRequests sends a node search requests no honest peer
// would: garbage, oversized or malformed queries, keys and statistics,
// search-after values bleve must never see, and a flood. The node refuses
// each (the stream is reset), stays up, and still answers an honest search.
func TestHostileSearchRequests(t *testing.T) {
	net := testnet.Start(t, 1, testnet.Options{NoLending: true})
	nd := net.Nodes[0]
	ctx := context.Background()
	if _, err := nd.API.Post(ctx, api.PostRequest{Text: "a quiet heron waits by the reed"}); err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	target := peer.AddrInfo{ID: nd.Net().ID(), Addrs: nd.Net().Host().Addrs()}
	if err := h.Connect(ctx, target); err != nil {
		t.Fatal(err)
	}
	// Every hostile request goes in both encodings a node serves: JSON
	// (the version before) and CBOR.
	type encoding struct {
		proto     protocol.ID
		marshal   func(any) ([]byte, error)
		unmarshal func([]byte, any) error
	}
	encodings := map[string]encoding{
		"json": {p2p.SearchProtocolJSON(net.Name()), json.Marshal, json.Unmarshal},
		"cbor": {p2p.SearchProtocol(net.Name()), cbor.Marshal, cbor.Unmarshal},
	}
	send := func(enc encoding, body []byte) (*netsearch.Response, error) {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		st, err := h.NewStream(sctx, target.ID, enc.proto)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		_ = st.SetDeadline(time.Now().Add(10 * time.Second))
		if err := msgio.NewVarintWriter(st).WriteMsg(body); err != nil {
			return nil, err
		}
		_ = st.CloseWrite()
		msg, err := msgio.NewVarintReaderSize(st, p2p.MaxMessageSize).ReadMsg()
		if err != nil {
			return nil, err
		}
		var resp netsearch.Response
		return &resp, enc.unmarshal(msg, &resp)
	}
	for encName, enc := range encodings {
		req := func(mod func(*netsearch.Request)) []byte {
			r := netsearch.Request{Query: "heron", Sort: "top", Size: 10, Keys: []string{"t/heron"}}
			mod(&r)
			b, err := enc.marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		hostile := map[string][]byte{
			"garbage":            []byte("\x00\xff not json"),
			"query too long":     req(func(r *netsearch.Request) { r.Query = strings.Repeat("heron ", 400) }),
			"bad syntax":         req(func(r *netsearch.Request) { r.Query = "((((heron" }),
			"size negative":      req(func(r *netsearch.Request) { r.Size = -1 }),
			"size huge":          req(func(r *netsearch.Request) { r.Size = 1 << 30 }),
			"unknown key class":  req(func(r *netsearch.Request) { r.Keys = []string{"x/heron"} }),
			"index out of range": req(func(r *netsearch.Request) { r.Index = 5 }),
			"after one value":    req(func(r *netsearch.Request) { r.After = []string{"1.5"} }),
			"after not a score":  req(func(r *netsearch.Request) { r.After = []string{"NaN", "ab"} }),
			"after not a time": req(func(r *netsearch.Request) {
				r.Sort = "latest"
				r.After = []string{"yesterday", "ab"}
			}),
			"df above docs": req(func(r *netsearch.Request) {
				r.Stats = &index.Stats{Docs: 3, TextTerms: 9, DocFreq: map[string]uint64{"heron": 7}}
			}),
			"unknown sort": req(func(r *netsearch.Request) { r.Sort = "random" }),
		}
		if encName == "cbor" {
			// A map of one key (8, the plan's keys) whose array claims 2^32
			// elements.
			hostile["cbor array of 2^32 keys"] = []byte{0xa1, 0x08, 0x9a, 0xff, 0xff, 0xff, 0xff}
			// A search of the whole index for heron, the query named twice.
			hostile["cbor key twice"] = []byte{0xa3, 0x01, 0x65, 'h', 'e', 'r', 'o', 'n', 0x06, 0x0a, 0x01, 0x65, 'h', 'e', 'r', 'o', 'n'}
			// heron under t/heron, the keys an array of indefinite length.
			hostile["cbor indefinite array"] = []byte{0xa3, 0x01, 0x65, 'h', 'e', 'r', 'o', 'n', 0x06, 0x0a, 0x08, 0x9f, 0x67, 't', '/', 'h', 'e', 'r', 'o', 'n', 0xff}
		}
		for name, body := range hostile {
			if resp, err := send(enc, body); err == nil {
				t.Errorf("%s, %s: the node answered %+v", encName, name, resp)
			}
		}
		if _, err := send(enc, req(func(*netsearch.Request) {})); err != nil {
			// Refused for the rate (the hostile requests spent it), or not
			// served at all: wait for the limiter and try once more.
			time.Sleep(2 * time.Second)
			if resp, err := send(enc, req(func(*netsearch.Request) {})); err != nil || len(resp.Hits) != 1 {
				t.Fatalf("%s: an honest search after the hostile ones: %+v, %v", encName, resp, err)
			}
		}
		time.Sleep(2 * time.Second) // the limiter refills
	}
	enc := encodings["cbor"]
	req := func(mod func(*netsearch.Request)) []byte {
		r := netsearch.Request{Query: "heron", Sort: "top", Size: 10, Keys: []string{"t/heron"}}
		mod(&r)
		b, _ := enc.marshal(r)
		return b
	}
	// A flood is rate limited: of 1,000 requests at once, some are refused.
	// (The node lends no spare capacity beyond the rate, NoLending: an idle
	// owner would serve this flood up to p2p.SpareSearchRate, whose bound
	// p2p.TestAnOwnerLendsOnlyItsSpareCapacity checks.)
	refused := 0
	for i := 0; i < 1000; i++ {
		if _, err := send(enc, req(func(*netsearch.Request) {})); err != nil {
			refused++
		}
	}
	if refused == 0 {
		t.Errorf("1000 searches in a burst: none refused")
	}
	// Still serving, to peers after the limiter refills and to its own API.
	time.Sleep(2 * time.Second)
	resp, err := send(enc, req(func(*netsearch.Request) {}))
	if err != nil || len(resp.Hits) != 1 {
		t.Fatalf("an honest search after the attack: %+v, %v", resp, err)
	}
	res, err := nd.Search(ctx, query.Request{Q: "heron reed"})
	if err != nil || len(res.Hits) != 1 {
		t.Fatalf("the node's own search after the attack: %+v, %v", res, err)
	}
}
