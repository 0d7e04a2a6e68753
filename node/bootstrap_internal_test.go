package node

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	madns "github.com/multiformats/go-multiaddr-dns"
)

// testResolver resolves through fixed TXT records: a stand-in for real DNS,
// which this test does not need (and the machines it runs on may lack).
func testResolver(t *testing.T, txt map[string][]string) *madns.Resolver {
	t.Helper()
	r, err := madns.NewResolver(madns.WithDefaultResolver(&madns.MockResolver{TXT: txt}))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestResolveDNSAddr: a /dnsaddr name becomes the peers its TXT records
// list, nested names followed, records without a peer ID skipped, a
// /p2p/ suffix keeping that peer only, and a name without records (or
// naming itself) an error.
func TestResolveDNSAddr(t *testing.T) {
	id1, id2 := newPeerID(t), newPeerID(t)
	r := testResolver(t, map[string][]string{
		"_dnsaddr.boot.test": {
			"dnsaddr=/ip4/10.0.0.1/tcp/4001/p2p/" + id1.String(),
			"dnsaddr=/dnsaddr/eu.boot.test",
			"dnsaddr=/ip4/10.0.0.9/tcp/4001", // no peer ID: no peer
			"v=spf1 -all",                    // not a dnsaddr record
		},
		"_dnsaddr.eu.boot.test": {
			"dnsaddr=/ip4/10.0.0.2/tcp/4001/p2p/" + id2.String(),
			"dnsaddr=/ip4/10.0.0.2/udp/4001/quic-v1/p2p/" + id2.String(),
		},
		"_dnsaddr.loop.test": {"dnsaddr=/dnsaddr/loop.test"},
	})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		want map[peer.ID]int // addresses per peer
		err  string
	}{
		{"/dnsaddr/boot.test", map[peer.ID]int{id1: 1, id2: 2}, ""},
		{"/dnsaddr/boot.test/p2p/" + id1.String(), map[peer.ID]int{id1: 1}, ""},
		{"/dnsaddr/eu.boot.test/p2p/" + id2.String(), map[peer.ID]int{id2: 2}, ""},
		{"/dnsaddr/missing.test", nil, "found no peer"},
		{"/dnsaddr/loop.test", nil, "found no peer"},
	} {
		got, err := resolveDNSAddr(ctx, r, ma.StringCast(tc.name))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		have := map[peer.ID]int{}
		for _, ai := range got {
			have[ai.ID] += len(ai.Addrs)
		}
		if len(have) != len(tc.want) {
			t.Errorf("%s: peers %v, want %v", tc.name, have, tc.want)
		}
		for id, n := range tc.want {
			if have[id] != n {
				t.Errorf("%s: %d addresses of %s, want %d", tc.name, have[id], id, n)
			}
		}
	}
}

// TestParseBootstrap: a bootstrap address ends in /p2p/<peer ID> or is a
// /dnsaddr name.
func TestParseBootstrap(t *testing.T) {
	id := newPeerID(t)
	b, err := parseBootstrap([]string{"/ip4/10.0.0.1/tcp/4001/p2p/" + id.String(), "/dnsaddr/boot.test", "/dns4/boot.test/tcp/4001/p2p/" + id.String()})
	if err != nil || len(b.peers) != 1 || len(b.peers[0].Addrs) != 2 || len(b.names) != 1 {
		t.Fatalf("parse: %+v %v, want one peer with two addresses and one name", b, err)
	}
	for _, bad := range []string{"/ip4/10.0.0.1/tcp/4001", "/dns4/boot.test/tcp/4001", "boot.test:4001"} {
		if _, err := parseBootstrap([]string{bad}); err == nil {
			t.Errorf("%s was taken as a bootstrap address", bad)
		}
	}
}

// TestDefaultBootstrapParses: every compiled-in bootstrap address is one.
func TestDefaultBootstrapParses(t *testing.T) {
	for network, addrs := range defaultBootstrap {
		if _, err := parseBootstrap(addrs); err != nil {
			t.Errorf("network %q: %v", network, err)
		}
	}
}

// TestDefaultBootstrapOnlyWhenNoneGiven: a node joins through its
// network's default list only when given no bootstrap peer, and resolves
// its names at each try; remembered peers come on top of either.
func TestDefaultBootstrapOnlyWhenNoneGiven(t *testing.T) {
	id1, id2, given := newPeerID(t), newPeerID(t), newPeerID(t)
	defer func(old map[string][]string) { defaultBootstrap = old }(defaultBootstrap)
	defaultBootstrap = map[string][]string{"dflt": {"/dnsaddr/boot.test", "/ip4/10.0.0.2/tcp/4001/p2p/" + id2.String()}}
	txt := map[string][]string{"_dnsaddr.boot.test": {"dnsaddr=/ip4/10.0.0.1/tcp/4001/p2p/" + id1.String()}}
	log := slog.New(slog.DiscardHandler)
	ids := func(c *contact) []peer.ID {
		c.resolver = testResolver(t, txt)
		var out []peer.ID
		for _, ai := range c.bootstrap() {
			out = append(out, ai.ID)
		}
		slices.Sort(out)
		return out
	}
	want := []peer.ID{id1, id2}
	slices.Sort(want)

	c, err := newContact(NetworkConfig{Name: "dflt"}, t.TempDir(), newPeerID(t), time.Now(), log)
	if err != nil {
		t.Fatal(err)
	}
	if c.bootstrapFunc() == nil || c.mustJoin() {
		t.Fatal("a node of a network with a default list starts alone, or waits for it to be ready")
	}
	if got := ids(c); !slices.Equal(got, want) {
		t.Errorf("without --bootstrap: %v, want the default list %v", got, want)
	}
	txt["_dnsaddr.boot.test"] = nil // the records changed: the next try sees it
	if got := ids(c); !slices.Equal(got, []peer.ID{id2}) {
		t.Errorf("after the records went: %v, want %v", got, []peer.ID{id2})
	}

	dir := t.TempDir()
	c, err = newContact(NetworkConfig{Name: "dflt", Bootstrap: []string{"/ip4/10.0.0.3/tcp/4001/p2p/" + given.String()}}, dir, newPeerID(t), time.Now(), log)
	if err != nil {
		t.Fatal(err)
	}
	c.book.saw(id1, []ma.Multiaddr{ma.StringCast("/ip4/10.0.0.4/tcp/4001")}, time.Now(), true)
	want = []peer.ID{given, id1}
	slices.Sort(want)
	if got := ids(c); !slices.Equal(got, want) || !c.mustJoin() {
		t.Errorf("with --bootstrap and a remembered peer: %v, want %v", got, want)
	}

	c, err = newContact(NetworkConfig{Name: "other"}, t.TempDir(), newPeerID(t), time.Now(), log)
	if err != nil || c.bootstrapFunc() != nil {
		t.Errorf("a node of a network without defaults or remembered peers does not start alone: %v", err)
	}
}
