package testnet_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/murmur-p2p/murmur/testnet"
)

// TestLabelsAreNotSigners: two nodes import posts under the same author
// label, one as a would-be impostor. A search for from:LABEL finds both,
// and the API and the web page say who signed which, with the label shown
// as a name and the signer as the author. A label that looks like a peer
// ID is refused at import.
func TestLabelsAreNotSigners(t *testing.T) {
	net := testnet.Start(t, 2, testnet.Options{})
	ctx := context.Background()
	imp := func(nd *testnet.Member, lines ...string) {
		t.Helper()
		res, err := nd.API.Import(ctx, strings.NewReader(strings.Join(lines, "\n")+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted != len(lines) {
			t.Fatalf("import on node %d: %+v", nd.Index, res)
		}
	}
	imp(net.Nodes[0],
		`{"text":"storm over the bay tonight","author":"Tide Watcher"}`,
		`{"text":"calm water by morning","author":"Tide Watcher"}`,
		`{"text":"the pier is closed","author":"Tide Watcher"}`)
	imp(net.Nodes[1], `{"text":"buy cheap tide tables now","author":"tide watcher"}`)

	res, err := net.Nodes[0].API.Search(ctx, url.Values{"q": {`from:"Tide Watcher"`}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 4 || len(res.LabelSigners) != 1 {
		t.Fatalf("from:label: total %d, label signers %+v", res.Total, res.LabelSigners)
	}
	signers := res.LabelSigners[0].Signers
	if len(signers) != 2 || signers[0].Signer != net.Nodes[0].ID().String() || signers[0].Posts != 3 ||
		signers[1].Signer != net.Nodes[1].ID().String() || signers[1].Posts != 1 {
		t.Fatalf("label signers %+v; want node 0 with 3 posts, node 1 with 1", signers)
	}
	for _, h := range res.Hits {
		if h.Author != net.Nodes[0].ID().String() && h.Author != net.Nodes[1].ID().String() {
			t.Fatalf("hit author %q is not a signer", h.Author)
		}
	}

	page := get(t, "http://"+net.Nodes[0].APIAddr()+"/?q="+url.QueryEscape(`from:"Tide Watcher"`))
	for _, want := range []string{
		`“Tide Watcher”</span> <span class="via">signed by`,
		"matches a label, a name any signer can give",
		"/a/" + net.Nodes[1].ID().String(),
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the result page lacks %q", want)
		}
	}

	bad, err := net.Nodes[0].API.Import(ctx, strings.NewReader(`{"text":"I am that node","author":"`+net.Nodes[1].ID().String()+`"}`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if bad.Accepted != 0 || bad.Rejected != 1 || len(bad.Errors) != 1 || !strings.Contains(bad.Errors[0].Error, "looks like a peer ID") {
		t.Fatalf("a label that is a peer ID: %+v", bad)
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", u, resp.Status, body)
	}
	return string(body)
}
