package p2p

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/puzzle"
)

// The network's statistics (netsearch's totals) are exact only when the
// querier hears one owner of every owner group, and a routing table holds a
// part of a large network: kad keeps at most a bucket's worth (20) of the
// peers at each common prefix length, about 67 of 100 nodes, and the peers
// of a group lie near each other, so whole groups fall outside it (at 100
// nodes the totals were 25% short, and BM25 scored with them). A survey
// finds every server: for each full bucket, it looks up keys in the part
// of the keyspace the bucket stands for, and each lookup's answer proves a
// region complete (run), until the regions cover the part. It costs
// about one lookup for every 10 to 20 peers beyond the routing table, and
// runs when a node gathers totals and its last survey is older than
// surveyInterval.
const (
	// surveyInterval is how long a survey's peers are taken as the
	// network's before another survey.
	surveyInterval = 10 * time.Minute
	// surveyFirstWait bounds how long the first gathering of totals waits
	// for the first survey.
	surveyFirstWait = 15 * time.Second
	// maxSurveyLookups bounds one survey's lookups (a network of some
	// 20,000 servers).
	maxSurveyLookups = 1024
	// maxSurveyPrefix bounds the prefix a survey looks in: finding a key
	// under a prefix of b bits takes about 2^b hashes.
	maxSurveyPrefix = 20
	// maxSurveyed bounds the peers a survey keeps.
	maxSurveyed = 20_000
)

// survey is the servers of the network beyond the routing table, as the
// last survey found them.
type survey struct {
	s *Service

	mu      sync.Mutex
	peers   map[peer.ID]bool
	at      time.Time // when the last survey ended; zero: never
	running bool
	done    chan struct{} // closed when the running survey ends
	lookups int           // of the last survey
}

// surveyPrefix is a part of the keyspace: the IDs whose first bits bits
// are those of id.
type surveyPrefix struct {
	id   kb.ID
	bits int
}

// members are the servers the last survey found, starting a survey when
// the last one is older than surveyInterval. The first waits for its
// survey, up to surveyFirstWait; later ones run in the background.
func (sv *survey) members() []peer.ID {
	sv.mu.Lock()
	stale := time.Since(sv.at) > surveyInterval
	if stale && !sv.running && sv.s.ctx.Err() == nil && sv.needed() {
		sv.running = true
		sv.done = make(chan struct{})
		sv.s.wg.Add(1)
		go func(done chan struct{}) {
			defer sv.s.wg.Done()
			defer close(done)
			sv.run(sv.s.ctx)
		}(sv.done)
	}
	first, done := sv.at.IsZero() && sv.running, sv.done
	sv.mu.Unlock()
	if first {
		select {
		case <-done:
		case <-time.After(surveyFirstWait):
		case <-sv.s.ctx.Done():
		}
	}
	sv.mu.Lock()
	defer sv.mu.Unlock()
	out := make([]peer.ID, 0, len(sv.peers))
	for p := range sv.peers {
		out = append(out, p)
	}
	return out
}

// needed reports whether some bucket of the routing table is full, so
// that the network may hold servers the table does not.
func (sv *survey) needed() bool { return len(sv.fullBuckets()) > 0 }

// fullBuckets are the common prefix lengths with self at which the
// routing table holds a whole bucket.
func (sv *survey) fullBuckets() []int {
	rt := sv.s.dht.RoutingTable()
	var full []int
	for cpl := range 256 { // the bits of a SHA-256 keyspace ID
		if rt.NPeersForCpl(uint(cpl)) >= sv.s.bucketSize() {
			full = append(full, cpl)
		}
	}
	return full
}

// drop forgets a surveyed peer that did not answer.
func (sv *survey) drop(p peer.ID) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	delete(sv.peers, p)
	sv.s.metrics.surveyedServers.Set(float64(len(sv.peers)))
}

// knows reports whether the last survey found p.
func (sv *survey) knows(p peer.ID) bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.peers[p]
}

// run surveys the parts of the keyspace of the routing table's full
// buckets and keeps the servers it finds.
func (sv *survey) run(ctx context.Context) {
	s := sv.s
	start := time.Now()
	self := kb.ConvertPeerID(s.self)
	var todo []surveyPrefix
	for _, cpl := range sv.fullBuckets() {
		// Bucket cpl holds the IDs that share cpl bits with self and
		// differ in the next.
		todo = append(todo, surveyPrefix{id: flipBit(self, cpl), bits: cpl + 1})
	}
	found := map[peer.ID]bool{}
	lookups := 0
	for len(todo) > 0 && lookups < maxSurveyLookups && ctx.Err() == nil {
		pfx := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if pfx.bits > maxSurveyPrefix {
			continue
		}
		key, target := keyUnder(pfx)
		lctx, cancel := context.WithTimeout(ctx, StreamTimeout)
		ids, err := s.dht.GetClosestPeers(lctx, key)
		cancel()
		lookups++
		s.metrics.surveyLookups.Inc()
		ids = slices.DeleteFunc(ids, func(p peer.ID) bool { return !puzzle.Solves(p, s.cfg.IDDifficulty) })
		for _, id := range ids {
			if id != s.self {
				found[id] = true
				// Keep the addresses the lookup brought as long as the
				// survey counts: the totals ask these peers later.
				s.host.Peerstore().AddAddrs(id, s.host.Peerstore().Addrs(id), surveyInterval)
			}
		}
		if err != nil {
			continue // an incomplete answer proves no region
		}
		// The lookup returned the peers closest to target, so every peer
		// that shares more bits with target than the farthest of them is
		// among them: the region of target's first bits bits is complete
		// (and may be empty). An answer short of a bucket holds every peer
		// the lookup could reach.
		if len(ids) < s.bucketSize() {
			continue
		}
		farthest := len(target) * 8
		for _, id := range ids {
			farthest = min(farthest, kb.CommonPrefixLen(kb.ConvertPeerID(id), target))
		}
		bits := farthest + 1
		// The rest of the prefix is the siblings of target's path below
		// it, down to the region.
		for b := pfx.bits; b < bits; b++ {
			todo = append(todo, surveyPrefix{id: flipBit(target, b), bits: b + 1})
		}
	}
	for p := range found {
		if len(found) <= maxSurveyed {
			break
		}
		delete(found, p)
	}
	sv.mu.Lock()
	defer sv.mu.Unlock()
	sv.running = false
	sv.lookups = lookups
	if ctx.Err() == nil {
		sv.peers, sv.at = found, time.Now()
		s.metrics.surveyedServers.Set(float64(len(found)))
	}
	s.log.Info("surveyed the network beyond the routing table", "servers", len(found), "lookups", lookups, "took", time.Since(start).Round(time.Millisecond))
}

// flipBit is id with bit b (from the most significant) flipped.
func flipBit(id kb.ID, b int) kb.ID {
	out := slices.Clone(id)
	out[b/8] ^= 0x80 >> (b % 8)
	return out
}

// keyUnder is a random DHT key whose keyspace ID (its SHA-256) lies under
// pfx, found by trying about 2^pfx.bits keys, and that ID.
func keyUnder(pfx surveyPrefix) (string, kb.ID) {
	var raw [16]byte
	for {
		_, _ = rand.Read(raw[:])
		key := "/murmur/survey/" + hex.EncodeToString(raw[:])
		id := kb.ConvertKey(key)
		if kb.CommonPrefixLen(id, pfx.id) >= pfx.bits {
			return key, id
		}
	}
}

// Surveyed reports what the last survey found: the servers beyond none of
// which the routing table may hold, the lookups it took, and when it
// ended (zero: no survey yet; a network whose routing tables hold every
// server needs none).
func (s *Service) Surveyed() (servers, lookups int, at time.Time) {
	sv := s.survey
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return len(sv.peers), sv.lookups, sv.at
}
