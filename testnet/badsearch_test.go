package testnet_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
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
	send := func(body []byte) (*netsearch.Response, error) {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		st, err := h.NewStream(sctx, target.ID, p2p.SearchProtocol(net.Name()))
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
		return &resp, json.Unmarshal(msg, &resp)
	}
	req := func(mod func(*netsearch.Request)) []byte {
		r := netsearch.Request{Query: "heron", Sort: "top", Size: 10, Keys: []string{"t/heron"}}
		mod(&r)
		b, _ := json.Marshal(r)
		return b
	}
	hostile := map[string][]byte{
		"garbage":            []byte("\x00\xff not json"),
		"query too long":     req(func(r *netsearch.Request) { r.Query = strings.Repeat("heron ", 400) }),
		"bad syntax":         req(func(r *netsearch.Request) { r.Query = "((((heron" }),
		"size zero":          req(func(r *netsearch.Request) { r.Size = 0 }),
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
	for name, body := range hostile {
		if resp, err := send(body); err == nil {
			t.Errorf("%s: the node answered %+v", name, resp)
		}
	}
	// A flood is rate limited: of 1,000 requests at once, some are refused.
	// (The node lends no spare capacity beyond the rate, NoLending: an idle
	// owner would serve this flood up to p2p.SpareSearchRate, whose bound
	// p2p.TestAnOwnerLendsOnlyItsSpareCapacity checks.)
	refused := 0
	for i := 0; i < 1000; i++ {
		if _, err := send(req(func(*netsearch.Request) {})); err != nil {
			refused++
		}
	}
	if refused == 0 {
		t.Errorf("1000 searches in a burst: none refused")
	}
	// Still serving, to peers after the limiter refills and to its own API.
	time.Sleep(2 * time.Second)
	resp, err := send(req(func(*netsearch.Request) {}))
	if err != nil || len(resp.Hits) != 1 {
		t.Fatalf("an honest search after the attack: %+v, %v", resp, err)
	}
	res, err := nd.Search(ctx, query.Request{Q: "heron reed"})
	if err != nil || len(res.Hits) != 1 {
		t.Fatalf("the node's own search after the attack: %+v, %v", res, err)
	}
}
