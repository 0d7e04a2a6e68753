package p2p

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/post"
)

// TestProfileLiesAreRefused: a stranger sends profiles to every node: its
// own to nodes that do not own its profile key, one whose name it changed
// after signing, and an author's older profile after the newer one. No
// node keeps any of them; the refusals are counted.
func TestProfileLiesAreRefused(t *testing.T) {
	net := startNetwork(t, 8, func(c *Config) { c.Metrics = metrics.New() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mallory, ada := testkit.Key(t), testkit.Key(t)
	own, err := post.SignProfile(mallory, "Mallory", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	forged := *own
	forged.Name = "Ada"
	older, err := post.SignProfile(ada, "Ada, long ago", "", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	newer, err := post.SignProfile(ada, "Ada", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Ada's profile is at its owners first.
	hasNewer := map[*Service]bool{}
	for _, s := range net.svcs {
		if s.owners.mayOwn(keyspace.ProfileKey(newer.Author), s.cfg.Replicas) {
			if _, err := s.store.PutProfile(newer); err != nil {
				t.Fatal(err)
			}
			hasNewer[s] = true
		}
	}
	enc := func(p *post.Profile) json.RawMessage {
		raw, _ := json.Marshal(p)
		return raw
	}
	h := newAttacker(t, net.svcs...)
	for _, s := range net.svcs {
		var resp storeResponse
		req := &storeRequest{Profiles: []json.RawMessage{enc(own), enc(&forged), enc(older)}}
		if err := exchange(ctx, h, s, StoreProtocol(net.name), req, &resp); err != nil {
			t.Fatal(err)
		}
		owner := s.owners.mayOwn(keyspace.ProfileKey(own.Author), s.cfg.Replicas+OwnerMargin)
		if kept, err := s.store.Profile(own.Author); !owner && err == nil {
			t.Errorf("node %s, no owner of the key, kept %+v", s.ID(), kept)
		}
		if kept, err := s.store.Profile(newer.Author); hasNewer[s] && (err != nil || kept.ID != newer.ID) {
			t.Errorf("node %s replaced Ada's newer profile: %+v %v", s.ID(), kept, err)
		}
		if resp.Profiles[1] == "" {
			t.Errorf("node %s took a profile changed after signing", s.ID())
		}
	}
	refused := 0.0
	for _, s := range net.svcs {
		refused += refusedCount(s.cfg.Metrics, metrics.ProtocolStore, metrics.RefusedNotOwner)
	}
	if refused == 0 {
		t.Error("no profile sent to a node that does not own its key was counted as refused")
	}
	for _, s := range net.svcs {
		if got := s.FetchProfiles(ctx, []string{newer.Author})[newer.Author]; got == nil || got.ID != newer.ID {
			t.Errorf("node %s fetched %+v for Ada, want the newer profile", s.ID(), got)
		}
	}
}
