package p2p

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sort"
	"sync"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

// lookupThreshold is the routing-table size from which owners are found by
// a DHT lookup: below it the table holds every server of the network (a
// bucket holds 20), so the local view is exact and costs no round trip.
const lookupThreshold = 20

// lookupTTL is how long the result of a lookup is reused.
const lookupTTL = 2 * time.Minute

// maxCachedLookups bounds the lookup cache.
const maxCachedLookups = 100_000

// ownerCache answers "who owns this key": the R peers closest to the key
// among the routing table and the node itself.
type ownerCache struct {
	s *Service

	mu      sync.Mutex
	members []member // routing table + self, with their keyspace IDs
	fp      uint64   // fingerprint of members
	lookups map[string]cachedLookup
}

type member struct {
	id peer.ID
	kb kb.ID
}

type cachedLookup struct {
	peers   []peer.ID
	expires time.Time
}

func newOwnerCache(s *Service) *ownerCache {
	return &ownerCache{s: s, lookups: map[string]cachedLookup{}}
}

// refresh reloads the membership from the routing table and returns its
// fingerprint; a change drops cached lookups.
func (c *ownerCache) refresh() uint64 {
	ids := c.s.dht.RoutingTable().ListPeers()
	ids = append(ids, c.s.self)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
	}
	fp := binary.BigEndian.Uint64(h.Sum(nil))
	c.mu.Lock()
	defer c.mu.Unlock()
	if fp == c.fp && c.members != nil {
		return fp
	}
	c.members = make([]member, len(ids))
	for i, id := range ids {
		c.members[i] = member{id: id, kb: kb.ConvertPeerID(id)}
	}
	c.fp = fp
	clear(c.lookups)
	return fp
}

// Owners returns the R owners of key, closest first; the node itself may be
// one of them.
func (s *Service) Owners(ctx context.Context, key string) ([]peer.ID, error) {
	return s.owners.get(ctx, key)
}

func (c *ownerCache) get(ctx context.Context, key string) ([]peer.ID, error) {
	r := c.s.cfg.Replicas
	if c.s.dht.RoutingTable().Size() < lookupThreshold {
		c.refresh()
		c.mu.Lock()
		defer c.mu.Unlock()
		return closest(c.members, kb.ConvertKey(key), r), nil
	}
	c.mu.Lock()
	if e, ok := c.lookups[key]; ok && time.Now().Before(e.expires) {
		c.mu.Unlock()
		return e.peers, nil
	}
	c.mu.Unlock()
	found, err := c.s.dht.GetClosestPeers(ctx, key)
	if err != nil && len(found) == 0 {
		return nil, err
	}
	cands := make([]member, 0, len(found)+1)
	for _, id := range append(found, c.s.self) {
		cands = append(cands, member{id: id, kb: kb.ConvertPeerID(id)})
	}
	owners := closest(cands, kb.ConvertKey(key), r)
	c.mu.Lock()
	if len(c.lookups) >= maxCachedLookups {
		clear(c.lookups)
	}
	c.lookups[key] = cachedLookup{peers: owners, expires: time.Now().Add(lookupTTL)}
	c.mu.Unlock()
	return owners, nil
}

// closest returns the n members closest to target by XOR distance.
func closest(ms []member, target kb.ID, n int) []peer.ID {
	type cand struct {
		id   peer.ID
		dist []byte
	}
	cands := make([]cand, len(ms))
	for i, m := range ms {
		d := make([]byte, len(target))
		for j := range d {
			d[j] = m.kb[j] ^ target[j]
		}
		cands[i] = cand{id: m.id, dist: d}
	}
	sort.Slice(cands, func(i, j int) bool { return bytes.Compare(cands[i].dist, cands[j].dist) < 0 })
	if len(cands) > n {
		cands = cands[:n]
	}
	out := make([]peer.ID, len(cands))
	for i, c := range cands {
		out[i] = c.id
	}
	return out
}

// kbKey is the keyspace position of a key.
func kbKey(key string) kb.ID { return kb.ConvertKey(key) }

// closer reports whether a is closer to target than b by XOR distance.
func closer(a, b, target kb.ID) bool {
	for i := range target {
		da, db := a[i]^target[i], b[i]^target[i]
		if da != db {
			return da < db
		}
	}
	return false
}

// ownersFingerprint identifies an owner set, for repair's bookkeeping.
func ownersFingerprint(owners []peer.ID) uint64 {
	h := sha256.New()
	for _, id := range owners {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	return binary.BigEndian.Uint64(h.Sum(nil))
}
