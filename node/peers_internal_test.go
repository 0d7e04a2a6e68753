package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

func newPeerID(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// manyAddrs returns more addresses than a peer keeps: loopback and
// private first, public last.
func manyAddrs(t *testing.T, i int) []ma.Multiaddr {
	t.Helper()
	var out []ma.Multiaddr
	for j := range maxRememberedAddrs + 3 {
		port := 1000 + i%500*20 + j
		out = append(out,
			ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)),
			ma.StringCast(fmt.Sprintf("/ip4/192.168.1.1/tcp/%d", port)),
			ma.StringCast(fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", port)))
	}
	return append(out, ma.StringCast(fmt.Sprintf("/ip4/8.8.%d.%d/tcp/4001", i%250, 1+i/250)))
}

// TestPeerBookKeepsTheBestWithinBounds: the book keeps maxRememberedPeers
// peers (DHT servers, then the most recently seen), maxRememberedAddrs
// addresses each (public first, no wildcard), never the node itself, and
// reads back what it wrote; it goes round the list a few peers per try.
func TestPeerBookKeepsTheBestWithinBounds(t *testing.T) {
	dir := t.TempDir()
	self := newPeerID(t)
	b, err := loadPeerBook(dir, "main", self)
	if err != nil || b.size() != 0 {
		t.Fatalf("fresh directory: %d peers, %v", b.size(), err)
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	servers := map[string]bool{}
	var ids []peer.ID
	for i := range maxRememberedPeers + 20 {
		id := newPeerID(t)
		ids = append(ids, id)
		server := i < 10 // the oldest ten are DHT servers
		servers[id.String()] = server
		b.saw(id, manyAddrs(t, i), base.Add(time.Duration(i)*time.Minute), server)
	}
	b.saw(self, manyAddrs(t, 999), base.Add(time.Hour*24), true)
	b.saw(newPeerID(t), nil, base.Add(time.Hour*24), true) // no address: nothing to dial
	// Seen again without addresses: keeps its addresses, moves up.
	b.saw(ids[40], nil, base.Add(48*time.Hour), false)
	if err := b.save(); err != nil {
		t.Fatal(err)
	}

	again, err := loadPeerBook(dir, "main", self)
	if err != nil {
		t.Fatal(err)
	}
	if again.size() != maxRememberedPeers {
		t.Fatalf("read back %d peers, want %d", again.size(), maxRememberedPeers)
	}
	for i, rp := range again.peers {
		switch {
		case rp.ID == self.String():
			t.Errorf("the node remembers itself")
		case i < 10 && !servers[rp.ID]:
			t.Errorf("peer %d is not one of the 10 DHT servers", i)
		case i == 10 && rp.ID != ids[40].String():
			t.Errorf("peer %d is %s, want the client seen last", i, rp.ID)
		case i > 0 && i != 10 && rp.Seen.After(again.peers[i-1].Seen):
			t.Errorf("peer %d seen at %v after peer %d", i, rp.Seen, i-1)
		}
		if len(rp.Addrs) != maxRememberedAddrs {
			t.Errorf("peer %d has %d addresses, want %d", i, len(rp.Addrs), maxRememberedAddrs)
		}
		if !manet.IsPublicAddr(ma.StringCast(rp.Addrs[0])) {
			t.Errorf("peer %d's first address %s is not its public one", i, rp.Addrs[0])
		}
		for _, a := range rp.Addrs {
			if strings.Contains(a, "0.0.0.0") {
				t.Errorf("peer %d kept the wildcard address %s", i, a)
			}
		}
	}
	// The oldest clients made way.
	for _, id := range ids[10:30] {
		if again.sawAgain(id, base, false) {
			t.Errorf("an old client %s is still remembered", id)
		}
	}

	// Each try takes the next few, round the list.
	seen := map[peer.ID]int{}
	for range maxRememberedPeers / rememberedPerTry {
		try := again.nextTry(rememberedPerTry)
		if len(try) != rememberedPerTry {
			t.Fatalf("a try of %d peers, want %d", len(try), rememberedPerTry)
		}
		for _, ai := range try {
			seen[ai.ID]++
			if len(ai.Addrs) == 0 {
				t.Errorf("peer %s to try without an address", ai.ID)
			}
		}
	}
	if len(seen) != maxRememberedPeers {
		t.Errorf("one round of tries dialed %d distinct peers, want all %d", len(seen), maxRememberedPeers)
	}
}

// TestPeerBookIgnoresABadFile: a damaged file, one of another network and
// one too large are errors that say so, with an empty book that the next
// save writes over.
func TestPeerBookIgnoresABadFile(t *testing.T) {
	self := newPeerID(t)
	for _, tc := range []struct {
		name, body, want string
	}{
		{"damaged", `{"network": "main", "peers": [{"id": "12D3`, "damaged"},
		{"not json", "\x00\x01garbage", "damaged"},
		{"other network", `{"network": "other", "peers": []}`, `of network "other"`},
		{"too large", `{"network": "main", "peers": [], "pad": "` + strings.Repeat("x", maxPeersFileBytes) + `"}`, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, PeersFile)
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			b, err := loadPeerBook(dir, "main", self)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("load: %v, want an error saying %q", err, tc.want)
			}
			if b == nil || b.size() != 0 {
				t.Fatalf("load of a bad file gave %v, want an empty book", b)
			}
			b.saw(newPeerID(t), manyAddrs(t, 1), time.Now(), true)
			if err := b.save(); err != nil {
				t.Fatal(err)
			}
			if again, err := loadPeerBook(dir, "main", self); err != nil || again.size() != 1 {
				t.Fatalf("after a save over the bad file: %d peers, %v", again.size(), err)
			}
		})
	}
	// Entries that do not parse are skipped, the others kept.
	dir := t.TempDir()
	good := newPeerID(t)
	body := fmt.Sprintf(`{"network": "main", "peers": [
		{"id": "not-a-peer-id", "addrs": ["/ip4/1.2.3.4/tcp/1"], "seen": "2025-01-01T00:00:00Z"},
		{"id": %q, "addrs": ["/ip4/1.2.3.4/tcp/1"], "seen": "2025-01-01T00:00:00Z"},
		{"id": %q, "addrs": ["nonsense", "/ip4/1.2.3.5/tcp/1"], "seen": "2025-01-01T00:00:00Z"},
		{"id": %q, "addrs": ["nonsense"], "seen": "2025-01-01T00:00:00Z"}]}`, self, good, newPeerID(t))
	if err := os.WriteFile(filepath.Join(dir, PeersFile), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := loadPeerBook(dir, "main", self)
	if err != nil || b.size() != 1 || b.peers[0].ID != good.String() || len(b.peers[0].Addrs) != 1 {
		t.Fatalf("partly bad entries: %v %+v, want the one good peer with its one good address", err, b.peers)
	}
}
