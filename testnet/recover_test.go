package testnet_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/testnet"
)

// TestDamagedIndexRecoversThroughRepair damages one node's index on a real
// network: the node stops, 4 KB of its newest segment are overwritten, and
// it starts again at once. It must start (it used to panic and crash-loop),
// say that it moved the damaged index aside, and get back, through repair,
// every post it owned from the other owners of their keys. It is back
// before repair's debounce lets its peers act on its departure, so their
// view of the owners has not changed: the digests are compared because it
// connected anew.
func TestDamagedIndexRecoversThroughRepair(t *testing.T) {
	recoverDamaged(t, false)
}

// TestDamagedIndexRecoversAfterUnnoticedCrash is the same after a power
// cut: the node's connections drop without a word (no protocols withdrawn),
// and it is back on its own port before its peers find it gone. Repair must
// still refill it, long before the periodic full comparison (10 minutes).
func TestDamagedIndexRecoversAfterUnnoticedCrash(t *testing.T) {
	recoverDamaged(t, true)
}

func recoverDamaged(t *testing.T, crash bool) {
	posts := 400
	if raceEnabled {
		posts = 150
	}
	net := testnet.Start(t, 5, testnet.Options{FixedPorts: crash})
	const R = p2p.DefaultReplicas
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	words := []string{"river", "lantern", "orchard", "copper", "meadow", "signal", "harbour", "quartz", "thistle", "ember"}
	for i := range posts {
		day := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		text := fmt.Sprintf("note %d on the %s and the %s #%s", i, words[i%len(words)], words[(i*7+3)%len(words)], words[(i/10)%len(words)])
		enc.Encode(api.ImportLine{Text: text, Lang: "en", CreatedAt: day.Format(time.RFC3339), Author: "notes"})
	}
	res, err := net.Nodes[0].Import(context.Background(), &body, api.ImportOptions{}, nil)
	if err != nil || res.Accepted != posts {
		t.Fatalf("import: %+v, %v", res, err)
	}
	want, _ := expectedKeys(t, net.Nodes[0])
	net.WaitFor("R copies of every key", 2*time.Minute, func() bool {
		return len(short(copiesAtOwners(t, net.Nodes[4], want), want, R)) == 0
	})
	// Settle: every node runs a repair pass over the keys it now holds, so
	// that no pass still due from the import refills the victim by chance.
	passes := make([]float64, len(net.Nodes))
	for i, nd := range net.Nodes {
		passes[i] = metrics.Value(nd.Metrics(), metrics.RepairPasses, "outcome", metrics.OutcomeOK)
		nd.Net().TriggerRepair()
	}
	net.WaitFor("a repair pass on every node after the import", time.Minute, func() bool {
		for i, nd := range net.Nodes {
			if metrics.Value(nd.Metrics(), metrics.RepairPasses, "outcome", metrics.OutcomeOK) <= passes[i] {
				return false
			}
		}
		return true
	})

	const v = 3
	victim := net.Nodes[v]
	owned := ownedPosts(t, victim, want)
	if len(owned) == 0 {
		t.Fatal("the victim owns no post; nothing to recover")
	}
	if missing := missingFrom(t, victim, owned); len(missing) > 0 {
		t.Fatalf("before the damage the victim lacks %d of the %d posts it owns", len(missing), len(owned))
	}

	if crash {
		net.Crash(v)
	} else {
		net.Kill(v)
	}
	segs, _ := filepath.Glob(filepath.Join(victim.Dir, "index", "store", "*.zap"))
	if len(segs) == 0 {
		t.Fatal("the victim's index has no segment file")
	}
	sort.Strings(segs)
	junk := make([]byte, 4096)
	rand.Read(junk)
	f, err := os.OpenFile(segs[len(segs)-1], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(junk, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()

	start := time.Now()
	net.Restart(v) // fails the test if the node does not start
	victim = net.Nodes[v]
	up := time.Since(start)
	st, err := victim.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Recovered == nil || !strings.Contains(st.Recovered.MovedTo, "index.damaged-") {
		t.Fatalf("status does not report the recovery: %+v", st.Recovered)
	}
	if _, err := os.Stat(st.Recovered.MovedTo); err != nil {
		t.Fatalf("the damaged index was not kept: %v", err)
	}
	if got := metrics.Value(victim.Metrics(), metrics.IndexRecovered); got != 1 {
		t.Fatalf("murmur_index_recovered = %v, want 1", got)
	}
	resp, err := http.Get("http://" + victim.APIAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	ready, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(ready), "damaged") {
		t.Fatalf("/readyz: %d %q, want 200 with a word on the damaged index", resp.StatusCode, ready)
	}

	net.WaitRouting(30 * time.Second)
	var missing []string
	net.WaitFor("repair brings back every post the victim owned", 2*time.Minute, func() bool {
		missing = missingFrom(t, victim, owned)
		return len(missing) == 0
	})
	t.Logf("up %v after the restart; %d owned posts back through repair %v after it", up.Round(time.Millisecond), len(owned), time.Since(start).Round(time.Millisecond))
	// Found from it again: through its API, from its own index.
	for id := range owned {
		if _, err := victim.API.Get(context.Background(), id); err != nil {
			t.Fatalf("GET post %s from the recovered node: %v", id, err)
		}
	}
}

// ownedPosts is the set of posts stored under a key nd is an owner of.
func ownedPosts(t *testing.T, nd *testnet.Member, want map[string][]string) map[string]bool {
	t.Helper()
	owned := map[string]bool{}
	for key, ids := range want {
		owners, err := nd.Net().Owners(context.Background(), key)
		if err != nil {
			t.Fatalf("owners of %s: %v", key, err)
		}
		if slices.Contains(owners, nd.Net().ID()) {
			for _, id := range ids {
				owned[id] = true
			}
		}
	}
	return owned
}

// missingFrom lists the posts of want that nd's index does not hold.
func missingFrom(t *testing.T, nd *testnet.Member, want map[string]bool) []string {
	t.Helper()
	held := map[string]bool{}
	if err := nd.WalkPosts(context.Background(), func(p *post.Post) error {
		held[p.ID] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var out []string
	for id := range want {
		if !held[id] {
			out = append(out, id)
		}
	}
	return out
}
