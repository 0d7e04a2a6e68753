package p2p

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-msgio"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/post"
)

func startService(t *testing.T) (*Service, *index.Index, *prometheus.Registry) {
	t.Helper()
	return startServiceWith(t)
}

// startServiceWith starts a lone service whose index is configured by
// tweak.
func startServiceWith(t *testing.T, tweak ...func(*index.Config)) (*Service, *index.Index, *prometheus.Registry) {
	t.Helper()
	ix, hold := openStore(t, tweak...)
	m := metrics.New()
	s, err := New(Config{Key: testkit.Key(t), Network: "badpeer-test", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Store: ix, Holdings: hold, Metrics: m, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, ix, m
}

func attacker(t *testing.T, target *Service) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if err := h.Connect(context.Background(), peer.AddrInfo{ID: target.ID(), Addrs: target.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	return h
}

// raw sends bytes on a store stream and returns the answer, or an error when
// the node reset the stream.
func raw(t *testing.T, h host.Host, s *Service, payload []byte) (storeResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := h.NewStream(ctx, s.ID(), StoreProtocol(s.Network()))
	if err != nil {
		return storeResponse{}, err
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(10 * time.Second))
	st.Write(payload)
	st.CloseWrite()
	var resp storeResponse
	_, err = readMessage(st, &resp)
	return resp, err
}

func frame(t *testing.T, v any) []byte {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	w := msgio.NewVarintWriter(&sliceWriter{&out})
	if err := w.WriteMsg(body); err != nil {
		t.Fatal(err)
	}
	return out
}

type sliceWriter struct{ b *[]byte }

func (w *sliceWriter) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }

// TestBadPeersAreRefused sends a node what a hostile or broken peer would:
// an oversized message, garbage, a forged post, a post under a term it does
// not contain, and a flood. Each is refused, and the node keeps working.
func TestBadPeersAreRefused(t *testing.T) {
	s, ix, m := startService(t)
	h := attacker(t, s)

	// An oversized message: a length prefix over the limit.
	prefix := []byte{0x80, 0x80, 0x80, 0x08} // uvarint 16 MiB
	if _, err := raw(t, h, s, append(prefix, make([]byte, 1024)...)); err == nil {
		t.Error("an oversized message got an answer")
	}
	// Garbage.
	junk := make([]byte, 4096)
	rand.Read(junk)
	if _, err := raw(t, h, s, junk); err == nil {
		t.Error("garbage got an answer")
	}

	key := testkit.Key(t)
	good, err := post.Sign(key, post.Draft{Text: "ducks swim in the pond"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	forged := *good
	forged.Text = "ducks fly to the moon"
	forgedRaw, _ := json.Marshal(&forged)
	goodRaw, _ := json.Marshal(good)
	resp, err := raw(t, h, s, frame(t, storeRequest{Posts: []storeItem{
		{Post: forgedRaw, Keys: []string{"t/moon"}},
		{Post: goodRaw, Keys: []string{"t/moon"}},
		{Post: goodRaw, Keys: []string{"t/ducks", "t/moon"}},
	}}))
	if err != nil {
		t.Fatalf("well-formed request: %v", err)
	}
	if len(resp.Posts) != 3 || resp.Posts[0].Error == "" {
		t.Fatalf("forged post not refused: %+v", resp)
	}
	if resp.Posts[1].Error == "" {
		t.Errorf("a post under only a term it lacks was accepted: %+v", resp.Posts[1])
	}
	if resp.Posts[2].Error != "" || len(resp.Posts[2].BadKeys) != 1 || resp.Posts[2].BadKeys[0] != "t/moon" {
		t.Errorf("mixed keys: got %+v, want t/ducks acknowledged and t/moon refused", resp.Posts[2])
	}
	if n, _ := ix.DocCount(); n != 1 {
		t.Errorf("index holds %d posts, want only the genuine one", n)
	}

	// A flood: past the burst, requests are reset and counted.
	ok := 0
	for i := 0; i < PeerRequestBurst+100; i++ {
		if _, err := raw(t, h, s, frame(t, storeRequest{Posts: []storeItem{{Post: goodRaw, Keys: []string{"t/ducks"}}}})); err == nil {
			ok++
		}
	}
	if limited := metrics.Value(m, metrics.StoreRequests, "outcome", metrics.OutcomeRateLimited); limited == 0 {
		t.Errorf("a flood of %d requests was never rate-limited (%d answered)", PeerRequestBurst+100, ok)
	}
	if rejected := metrics.Value(m, metrics.StoreRequests, "outcome", metrics.OutcomeRejected); rejected < 2 {
		t.Errorf("oversized and garbage requests counted as rejected %v times, want 2", rejected)
	}

	// The node still serves an honest peer (its own rate bucket).
	h2 := attacker(t, s)
	if resp, err := raw(t, h2, s, frame(t, storeRequest{Posts: []storeItem{{Post: goodRaw, Keys: []string{"t/pond"}}}})); err != nil || resp.Posts[0].Error != "" {
		t.Fatalf("honest peer after the attack: %+v, %v", resp, err)
	}
}
