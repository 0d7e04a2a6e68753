package p2p

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"sync"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"golang.org/x/sync/singleflight"

	"github.com/murmur-p2p/murmur/puzzle"
)

// lookupTTL is how long what a lookup taught is reused: the owners of its
// key and the members of its region.
const lookupTTL = 2 * time.Minute

// maxCachedLookups bounds the per-key lookup cache, for keys whose region
// holds fewer than R peers.
const maxCachedLookups = 100_000

// maxRegions bounds the cached regions. A region holds about as many peers
// as a lookup returns, so this covers a network of some 50,000 nodes.
const maxRegions = 4096

// maxKnownPeers bounds the set of peers the node has seen as owners.
const maxKnownPeers = 100_000

// lookupConcurrency bounds the DHT lookups one node runs at once.
const lookupConcurrency = 4

// ownerCache answers "who owns this key": the R peers closest to the key
// among every server of the network and the node itself.
//
// While the routing table holds fewer peers than a bucket does (20), no
// bucket has overflowed, so it holds every server, and the answer is
// computed from it. Beyond, a DHT lookup of a key returns the 20 peers
// closest to it; every peer that shares more leading bits with the key
// than the farthest of those is closer to it than that one, so the lookup
// returns all of them. That prefix of the key is a region whose members the
// node then knows completely, and the owners of every key in it are computed
// without another lookup: a few lookups cover a network of dozens of nodes,
// where one lookup per key made placement and repair cost thousands.
type ownerCache struct {
	s *Service

	flight singleflight.Group
	sem    chan struct{}

	mu      sync.Mutex
	members []member // routing table + self + held, with their keyspace IDs
	rtFP    uint64   // fingerprint of the routing table + self (membershipFingerprint)
	// memberFP is the fingerprint of members: a routing table that
	// changed only by the peers held is no change of membership.
	memberFP uint64
	// held are members the DHT dropped from its routing table while the
	// node stayed connected to them and they still speak the DHT (a query
	// to a busy peer timed out): they are members until the connection
	// ends (watchPeers then redials, and forgets them when that fails).
	// Each is connected, so they are at most the node's connections,
	// which the connection manager bounds.
	held map[peer.ID]bool
	kad  protocol.ID // the network's DHT protocol, which a held peer speaks
	seed maphash.Seed
	// epoch counts changes of the membership the node sees: the routing
	// table changed, a region brought a peer never seen before, or a peer
	// was found gone. Repair and the settling window follow it.
	epoch   uint64
	known   map[peer.ID]bool
	regions map[int]map[string]*region // prefix length -> prefix -> region
	nRegion int
	lookups map[string]cachedLookup
	// taught counts what lookups taught and each change of the routing
	// table, which expires it: the local summary, which places keys from what the
	// node knows, is computed again when it moves.
	taught uint64
	// changes are the membership changes seen, oldest first (at most
	// maxChanges); truncated is when the newest one dropped happened.
	changes   []change
	truncated time.Time
}

type member struct {
	id peer.ID
	kb kb.ID
}

type cachedLookup struct {
	peers   []peer.ID
	expires time.Time
}

// region is a part of the keyspace, the IDs that share their first bits
// with prefix, whose every member the node knows.
type region struct {
	bits    int
	members []member
	expires time.Time
}

func newOwnerCache(s *Service) *ownerCache {
	return &ownerCache{
		s:       s,
		kad:     KadProtocol(s.cfg.Network),
		seed:    maphash.MakeSeed(),
		sem:     make(chan struct{}, lookupConcurrency),
		known:   map[peer.ID]bool{},
		regions: map[int]map[string]*region{},
		lookups: map[string]cachedLookup{},
	}
}

// refresh reloads the membership from the routing table and returns the
// membership epoch; a change of the membership expires what lookups
// taught. A peer the routing table dropped while the node is still
// connected to it and it still speaks the DHT stays a member (held): kad-dht
// drops a peer whenever one query to it fails, and in a network of hundreds
// of busy nodes that made every node's membership change, and the node
// count as settling, every few minutes with no peer gone.
func (c *ownerCache) refresh() uint64 {
	ids := c.s.dht.RoutingTable().ListPeers()
	if c.s.OwnsKeys() {
		// A DHT client is in nobody's routing table and owns nothing.
		ids = append(ids, c.s.self)
	}
	fp := membershipFingerprint(c.seed, ids)
	c.mu.Lock()
	defer c.mu.Unlock()
	if fp == c.rtFP && c.members != nil && c.heldAliveLocked() {
		return c.epoch
	}
	c.rtFP = fp
	ids = c.holdLocked(ids)
	mfp := membershipFingerprint(c.seed, ids)
	if mfp == c.memberFP && c.members != nil {
		return c.epoch
	}
	c.memberFP = mfp
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if c.members != nil {
		// What changed, for SettlingKey; the first view is no change.
		was := make(map[peer.ID]bool, len(c.members))
		for _, m := range c.members {
			was[m.id] = true
		}
		for _, id := range ids {
			if !was[id] && c.known[id] {
				// A peer never seen is logged by learnPeerLocked below.
				c.logChangeLocked(id, false, "joined the routing table")
			}
			delete(was, id)
		}
		for id := range was {
			c.logChangeLocked(id, true, "left the routing table")
		}
	}
	c.members = make([]member, len(ids))
	for i, id := range ids {
		c.members[i] = member{id: id, kb: kb.ConvertPeerID(id)}
		c.learnPeerLocked(id)
	}
	c.epoch++
	c.expireLookupsLocked()
	return c.epoch
}

// holdLocked returns ids, the routing table's peers and self, with the
// members before that left the table while the node is still connected to
// them and they still speak the DHT, and records those as held.
func (c *ownerCache) holdLocked(ids []peer.ID) []peer.ID {
	in := make(map[peer.ID]bool, len(ids))
	for _, id := range ids {
		in[id] = true
	}
	held := map[peer.ID]bool{}
	for _, m := range c.members {
		if !in[m.id] && c.stillMember(m.id) {
			ids = append(ids, m.id)
			held[m.id] = true
		}
	}
	c.held = held
	return ids
}

// heldAliveLocked reports whether every held peer is still a member.
func (c *ownerCache) heldAliveLocked() bool {
	for id := range c.held {
		if !c.stillMember(id) {
			return false
		}
	}
	return true
}

// stillMember reports whether p, out of the routing table, is still a
// member: a known peer the node is connected to that speaks the DHT.
func (c *ownerCache) stillMember(p peer.ID) bool {
	if p == c.s.self || !c.known[p] {
		return false
	}
	h := c.s.host
	if h.Network().Connectedness(p) != network.Connected {
		return false
	}
	ok, err := h.Peerstore().SupportsProtocols(p, c.kad)
	return err == nil && len(ok) > 0
}

// membershipFingerprint is an order-free fingerprint of a set of peers:
// the sum of their IDs' hashes under seed. refresh runs on every search
// and every settling check, and the routing table rarely changes between
// two of them: telling so needs no sort and no hash of a concatenation. A
// change goes unseen only if the hashes of the peers that left and of
// those that joined sum alike, which no one can aim at without the seed.
func membershipFingerprint(seed maphash.Seed, ids []peer.ID) uint64 {
	var fp uint64
	for _, id := range ids {
		fp += maphash.String(seed, string(id))
	}
	return fp
}

// expireLookupsLocked expires what lookups taught, keeping it in order
// for lastKnown until the bounds drop it.
func (c *ownerCache) expireLookupsLocked() {
	c.taught++
	for k, e := range c.lookups {
		e.expires = e.expires.Add(-lookupTTL)
		c.lookups[k] = e
	}
	for _, byPrefix := range c.regions {
		for _, rg := range byPrefix {
			rg.expires = rg.expires.Add(-lookupTTL)
		}
	}
}

// learnPeerLocked records a peer seen as a member and reports whether it is
// new; a new one starts a new epoch.
func (c *ownerCache) learnPeerLocked(id peer.ID) bool {
	if c.known[id] {
		return false
	}
	if len(c.known) >= maxKnownPeers {
		clear(c.known)
	}
	c.known[id] = true
	c.epoch++
	c.logChangeLocked(id, false, "first seen")
	return true
}

// Owners returns the R owners of key, closest first; the node itself may be
// one of them.
func (s *Service) Owners(ctx context.Context, key string) ([]peer.ID, error) {
	return s.owners.get(ctx, key)
}

// KnownOwners are key's owners as this node knows them without asking the
// network (netsearch.KnownOwners): from the routing table of a small
// network, or a region or lookup still fresh; false otherwise.
func (s *Service) KnownOwners(key string) ([]peer.ID, bool) {
	return s.owners.cached(key, false)
}

func (c *ownerCache) get(ctx context.Context, key string) ([]peer.ID, error) {
	if owners, ok := c.cached(key, true); ok {
		return owners, nil
	}
	v, err, _ := c.flight.Do(key, func() (any, error) {
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		defer func() { <-c.sem }()
		// A lookup that ran while this one waited may have covered the key.
		if owners, ok := c.cached(key, false); ok {
			return owners, nil
		}
		return c.lookup(ctx, key)
	})
	if err != nil {
		return nil, err
	}
	return v.([]peer.ID), nil
}

// cached answers from what the node knows without asking the network: the
// routing table of a small network, a region or a per-key lookup. With
// refresh it first reloads the routing table.
func (c *ownerCache) cached(key string, refresh bool) ([]peer.ID, bool) {
	r := c.s.cfg.Replicas
	target := kbKey(key)
	if c.s.dht.RoutingTable().Size() < c.s.bucketSize() {
		if refresh {
			c.refresh()
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.members == nil {
			return nil, false
		}
		return closest(c.members, target, r), true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for bits, byPrefix := range c.regions {
		if rg := byPrefix[prefixOf(target, bits)]; rg != nil && now.Before(rg.expires) {
			return closest(rg.members, target, r), true
		}
	}
	if e, ok := c.lookups[key]; ok && now.Before(e.expires) {
		return e.peers, true
	}
	return nil, false
}

// lastKnown is cached, without reloading the routing table, but when no
// answer is fresh it takes the latest expired one still kept: the owners
// as the node last knew them. An answer expires so that owners are looked
// up again as peers come and go, not because it went wrong; a change of
// the routing table expires every answer at once.
func (c *ownerCache) lastKnown(key string) ([]peer.ID, bool) {
	if owners, ok := c.cached(key, false); ok {
		return owners, true
	}
	target := kbKey(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	var (
		owners []peer.ID
		latest time.Time
	)
	for bits, byPrefix := range c.regions {
		if rg := byPrefix[prefixOf(target, bits)]; rg != nil && rg.expires.After(latest) {
			owners, latest = closest(rg.members, target, c.s.cfg.Replicas), rg.expires
		}
	}
	if e, ok := c.lookups[key]; ok && e.expires.After(latest) {
		owners, latest = e.peers, e.expires
	}
	return owners, !latest.IsZero()
}

// taughtVersion is the count of what lookups taught (ownerCache.taught).
func (c *ownerCache) taughtVersion() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.taught
}

// lookup asks the DHT for the peers closest to key and remembers the region
// the answer covers.
func (c *ownerCache) lookup(ctx context.Context, key string) ([]peer.ID, error) {
	found, err := c.s.dht.GetClosestPeers(ctx, key)
	if err != nil && len(found) == 0 {
		return nil, fmt.Errorf("find the peers closest to %s: %w", key, err)
	}
	c.s.metrics.ownerLookups.Inc()
	// The DHT's query filter already drops peers that did not pay for
	// their identity; an owner is never one of them, however it came.
	found = slices.DeleteFunc(found, func(p peer.ID) bool { return !puzzle.Solves(p, c.s.cfg.IDDifficulty) })
	target := kbKey(key)
	owners, rg := regionOf(target, c.s.self, c.s.OwnsKeys(), found, c.s.cfg.Replicas)
	if err != nil {
		// An incomplete lookup still names live peers near the key, good
		// enough for this call, but proves nothing worth remembering.
		return owners, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range found {
		c.learnPeerLocked(id)
	}
	expires := time.Now().Add(lookupTTL)
	c.taught++
	if rg != nil {
		if c.nRegion >= maxRegions {
			c.pruneRegionsLocked()
		}
		byPrefix := c.regions[rg.bits]
		if byPrefix == nil {
			byPrefix = map[string]*region{}
			c.regions[rg.bits] = byPrefix
		}
		p := prefixOf(target, rg.bits)
		if byPrefix[p] == nil {
			c.nRegion++
		}
		rg.expires = expires
		byPrefix[p] = rg
		return owners, nil
	}
	if len(c.lookups) >= maxCachedLookups {
		clear(c.lookups)
	}
	c.lookups[key] = cachedLookup{peers: owners, expires: expires}
	return owners, nil
}

// pruneRegionsLocked drops expired regions, or all of them when none has
// expired.
func (c *ownerCache) pruneRegionsLocked() {
	now := time.Now()
	for bits, byPrefix := range c.regions {
		for p, rg := range byPrefix {
			if !now.Before(rg.expires) {
				delete(byPrefix, p)
				c.nRegion--
			}
		}
		if len(byPrefix) == 0 {
			delete(c.regions, bits)
		}
	}
	if c.nRegion >= maxRegions {
		clear(c.regions)
		c.nRegion = 0
	}
}

// regionOf turns the answer of a lookup of target, the peers closest to it
// other than self, into the owners of target and, when it holds at least r
// peers, the region the answer proves complete: the IDs that share one bit
// more with target than the farthest peer found does.
func regionOf(target kb.ID, self peer.ID, selfOwns bool, found []peer.ID, r int) ([]peer.ID, *region) {
	cands := make([]member, 0, len(found)+1)
	farthest := len(target) * 8
	for _, id := range found {
		if id == self {
			continue
		}
		m := member{id: id, kb: kb.ConvertPeerID(id)}
		farthest = min(farthest, kb.CommonPrefixLen(m.kb, target))
		cands = append(cands, m)
	}
	if !selfOwns {
		if len(cands) == 0 {
			return nil, nil
		}
	} else {
		if len(cands) == 0 {
			return []peer.ID{self}, nil
		}
		cands = append(cands, member{id: self, kb: kb.ConvertPeerID(self)})
	}
	owners := closest(cands, target, r)
	bits := farthest + 1
	var in []member
	for _, m := range cands {
		if kb.CommonPrefixLen(m.kb, target) >= bits {
			in = append(in, m)
		}
	}
	if len(in) < r {
		return owners, nil
	}
	return owners, &region{bits: bits, members: in}
}

// prefixOf is the first bits bits of id, as a map key.
func prefixOf(id kb.ID, bits int) string {
	n := (bits + 7) / 8
	b := make([]byte, n)
	copy(b, id[:n])
	if rem := bits % 8; rem != 0 {
		b[n-1] &= byte(0xff << (8 - rem))
	}
	return string(b)
}

// knows reports whether p is a member of a cached region or lookup.
func (c *ownerCache) knows(p peer.ID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.known[p]
}

// forget drops a peer found gone from every region and lookup, which stay
// complete without it, and starts a new epoch.
func (c *ownerCache) forget(p peer.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.known[p] {
		return
	}
	delete(c.known, p)
	c.epoch++
	c.logChangeLocked(p, true, "found gone")
	for bits, byPrefix := range c.regions {
		for pfx, rg := range byPrefix {
			for i, m := range rg.members {
				if m.id == p {
					rg.members = append(rg.members[:i:i], rg.members[i+1:]...)
					break
				}
			}
			if len(rg.members) < c.s.cfg.Replicas {
				delete(byPrefix, pfx)
				c.nRegion--
			}
		}
		if len(byPrefix) == 0 {
			delete(c.regions, bits)
		}
	}
	for k, e := range c.lookups {
		for _, id := range e.peers {
			if id == p {
				delete(c.lookups, k)
				break
			}
		}
	}
}

// mayOwn reports whether this node is among the n peers closest to key
// that it knows of (its routing table and itself). Its view can only lack
// peers, never add them, so a true owner always passes; a node refuses to
// store under keys it fails, which bounds what a peer can make it hold to
// its share of the keyspace.
func (c *ownerCache) mayOwn(key string, n int) bool {
	if !c.s.OwnsKeys() {
		return false
	}
	target := kbKey(key)
	self := kb.ConvertPeerID(c.s.self)
	// Every peer that shares exactly cpl leading bits with this node agrees
	// with the key on the bit where this node first differs from it, so it
	// is closer to the key: a full bucket settles most keys at once.
	cpl := kb.CommonPrefixLen(self, target)
	if c.s.dht.RoutingTable().NPeersForCpl(uint(cpl)) >= n {
		return false
	}
	c.mu.Lock()
	members := c.members
	c.mu.Unlock()
	closer := 0
	for _, m := range members {
		if m.id != c.s.self && closerTo(target, m.kb, self) {
			if closer++; closer >= n {
				return false
			}
		}
	}
	return true
}

// closerTo reports whether a is closer to target than b by XOR distance.
func closerTo(target, a, b kb.ID) bool {
	for i := range target {
		da, db := a[i]^target[i], b[i]^target[i]
		if da != db {
			return da < db
		}
	}
	return false
}

// closest returns the n members closest to target by XOR distance,
// closest first. It keeps the best n by insertion, without sorting or
// copying every member: it runs for every held key in a repair pass and a
// summary.
func closest(ms []member, target kb.ID, n int) []peer.ID {
	if n <= 0 {
		return nil
	}
	best := make([]member, 0, min(n, len(ms)))
	for _, m := range ms {
		switch {
		case len(best) < n:
			best = append(best, m)
		case closerTo(target, m.kb, best[n-1].kb):
			best[n-1] = m
		default:
			continue
		}
		for i := len(best) - 1; i > 0 && closerTo(target, best[i].kb, best[i-1].kb); i-- {
			best[i], best[i-1] = best[i-1], best[i]
		}
	}
	out := make([]peer.ID, len(best))
	for i, m := range best {
		out[i] = m.id
	}
	return out
}

// kbKey is the keyspace position of a key.
func kbKey(key string) kb.ID { return kb.ConvertKey(key) }

// ownersFingerprint identifies an owner set, for repair's bookkeeping.
func ownersFingerprint(owners []peer.ID) uint64 {
	h := sha256.New()
	for _, id := range owners {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	return binary.BigEndian.Uint64(h.Sum(nil))
}

// KadBucketSize is how many peers a routing table keeps per common prefix
// length with its own ID: go-libp2p-kad-dht's default, which p2p keeps.
const KadBucketSize = 20

// RoutingCapacity is how many of servers (the DHT servers alive; self
// among them or not) a routing table of self's can hold at most:
// bucket (Config.BucketSize; 0: KadBucketSize) of those that share each
// prefix length with self. Past 20 or so peers one bucket overflows (at 32
// nodes about half of them share no bit with self), and the table holds
// fewer than all; owners are then looked up.
func RoutingCapacity(self peer.ID, servers []peer.ID, bucket int) int {
	if bucket <= 0 {
		bucket = KadBucketSize
	}
	me := kb.ConvertPeerID(self)
	perPrefix := map[int]int{}
	for _, id := range servers {
		if id != self {
			perPrefix[kb.CommonPrefixLen(me, kb.ConvertPeerID(id))]++
		}
	}
	capacity := 0
	for _, n := range perPrefix {
		capacity += min(n, bucket)
	}
	return capacity
}
