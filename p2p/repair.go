package p2p

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"golang.org/x/sync/errgroup"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/post"
)

// repairDebounce is how long repair waits after the membership changes, so
// that a burst of joins or departures costs one pass.
const repairDebounce = 500 * time.Millisecond

// tendInterval is how often at most a node tends its splits
// (tendSplits), however often repair passes run.
const tendInterval = 10 * time.Second

// maxPendingTombstones bounds the tombstones waiting to be re-sent.
const maxPendingTombstones = 10_000

// repairer keeps every key the node holds at its owners. For each key it
// remembers the owner set it last synced with; a key is synced again when
// that set changes (a node joined or left), when a write fell short, or at
// the full-sync interval.
type repairer struct {
	s *Service

	mu         sync.Mutex
	synced     map[string]uint64 // key -> fingerprint of the owners it was synced with
	dirty      map[string]bool
	arrived    map[peer.ID]bool            // peers connected anew since the last pass
	tombstones map[string]pendingTombstone // target -> tombstone still to deliver
	ownedKeys  int
	lastFull   time.Time
	// settleUntil is when the node's view of the owners counts as settled:
	// unset while the membership changed after the last repair pass began,
	// else a margin after that pass, for the other nodes' passes.
	settleUntil atomic.Int64
	// seenEpoch is the membership epoch the repair loop last took in. A
	// querier that sees another one settles at once, without waiting for
	// the loop's next tick: the owners it is about to ask already follow
	// the new membership, and a new owner among them may hold nothing yet.
	seenEpoch atomic.Uint64
	// windowStart is when the settling window open now opened (Unix
	// nanoseconds): the first membership change after the last one
	// closed; 0 until the node has settled once.
	windowStart atomic.Int64
	// firstWindow is when the first settling window opened (Unix
	// nanoseconds): the changes before it are the node's start-up, when
	// it counted every key as settling.
	firstWindow atomic.Int64
}

// settleMargin, the default SettleMargin, is how long after its own repair
// pass a node still expects
// other nodes' passes to be handing posts to new owners. Other nodes' passes
// take longer than this node's when they hold more, and one that fails on
// the peers that just died is run again: CI's 12-node test, with 3 nodes
// killed at once on two busy cores, once found a label's new owner still
// without a post a minute after the querier's pass, and answering alone.
const settleMargin = 3 * time.Minute

// Settling reports whether owners may still be missing posts because the
// membership changed recently: queriers then ask every owner of each key.
func (s *Service) Settling() bool {
	if s.owners.refresh() != s.repair.seenEpoch.Load() {
		return true
	}
	return time.Now().UnixNano() < s.repair.settleUntil.Load()
}

func newRepairer(s *Service) *repairer {
	r := &repairer{s: s, synced: map[string]uint64{}, dirty: map[string]bool{}, arrived: map[peer.ID]bool{}, tombstones: map[string]pendingTombstone{}, lastFull: time.Now()}
	r.settleUntil.Store(math.MaxInt64)
	return r
}

func (r *repairer) markDirty(keys []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		r.dirty[k] = true
	}
	r.s.TriggerRepair()
}

// maxArrived bounds the peers remembered as connected anew between passes.
const maxArrived = 4096

// peerConnected marks a peer that connected anew: the next pass compares
// the digests of every key it owns, even if the owners did not change. A
// node that restarts faster than its peers notice it gone may have lost
// what it held (a damaged index moved aside), and would otherwise wait for
// the full comparison.
func (r *repairer) peerConnected(p peer.ID) {
	r.mu.Lock()
	if len(r.arrived) < maxArrived {
		r.arrived[p] = true
	}
	r.mu.Unlock()
	r.s.TriggerRepair()
}

func (r *repairer) owned() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ownedKeys
}

func (r *repairer) loop(ctx context.Context) {
	defer r.s.wg.Done()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastFP := r.s.owners.refresh()
	r.seenEpoch.Store(lastFP)
	var changedAt time.Time
	lastPass := time.Time{}
	lastEvict := time.Now() // a node that just started has peers to meet first
	var lastTend time.Time
	pending := true // sync everything once at start
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.s.trigger:
			pending = true
		case <-tick.C:
		}
		r.s.metrics.peersConnected.Set(float64(r.s.Peers()))
		r.s.metrics.routingTablePeers.Set(float64(r.s.RoutingTableSize()))
		if fp := r.s.owners.refresh(); fp != lastFP {
			r.s.keepRoutingTable() // the peers that came stay (keepRoutingTable)
			lastFP = fp
			changedAt = time.Now()
			pending = true
			r.settleUntil.Store(math.MaxInt64)
			r.seenEpoch.Store(fp)
		}
		now := time.Now()
		if now.Sub(r.lastFull) > r.s.cfg.FullSyncInterval {
			r.mu.Lock()
			clear(r.synced)
			r.lastFull = now
			r.mu.Unlock()
			pending = true
		}
		if !pending && now.Sub(lastPass) < r.s.cfg.RepairInterval {
			continue
		}
		if now.Sub(changedAt) < repairDebounce {
			continue
		}
		pending = false
		lastPass = now
		err := r.pass(ctx)
		if err != nil && ctx.Err() == nil {
			r.s.log.Warn("repair pass incomplete", "err", err)
			pending = true // the next tick after the interval retries
			lastPass = now
		} else if err == nil && r.s.owners.refresh() == lastFP && r.settleUntil.Load() == math.MaxInt64 {
			// The first pass after a change closes the window a margin
			// later; periodic passes with no change leave it closed.
			r.settleUntil.Store(time.Now().Add(r.s.cfg.SettleMargin).UnixNano())
		}
		if err == nil && time.Since(lastTend) >= min(r.s.cfg.RepairInterval, tendInterval) {
			// Right after a pass that synced every key it tried, the
			// hand-downs it finished are known.
			lastTend = time.Now()
			r.s.tendSplits(ctx)
		}
		if err == nil && r.s.cfg.EvictInterval > 0 && !r.s.Settling() && time.Since(lastEvict) >= r.s.cfg.EvictInterval {
			// Right after a pass the owners of every held key are known.
			lastEvict = time.Now()
			if n, err := r.evict(ctx); err != nil && ctx.Err() == nil {
				r.s.log.Warn("eviction of copies owned elsewhere incomplete", "dropped", n, "err", err)
			} else if n > 0 {
				r.s.log.Info("dropped copies other nodes own and hold", "posts", n)
			}
		}
	}
}

// pass syncs every key whose owners changed since it was last synced.
func (r *repairer) pass(ctx context.Context) (err error) {
	start := time.Now()
	m := r.s.metrics
	defer func() {
		outcome := metrics.OutcomeOK
		if err != nil {
			outcome = metrics.OutcomeError
		} else {
			m.repairLastSuccess.SetToCurrentTime()
		}
		m.repairPasses.WithLabelValues(outcome).Inc()
		m.repairPassSeconds.Observe(time.Since(start).Seconds())
	}()

	r.resendTombstones(ctx)

	self := r.s.self
	snap := r.s.hold.snapshot()
	perPeer := map[peer.ID][]Digest{}
	todo := map[string]uint64{}        // key -> owners fingerprint to record on success
	keyPeers := map[string][]peer.ID{} // key -> owners to sync with
	owned := 0
	postings := map[string]int{}
	r.mu.Lock()
	synced := make(map[string]uint64, len(r.synced))
	for k, v := range r.synced {
		synced[k] = v
	}
	dirty := r.dirty
	r.dirty = map[string]bool{}
	arrived := r.arrived
	r.arrived = map[peer.ID]bool{}
	r.mu.Unlock()
	for _, hk := range snap {
		owners, oerr := r.s.Owners(ctx, hk.key)
		if oerr != nil {
			dirty[hk.key] = true
			continue
		}
		fp := ownersFingerprint(owners)
		isOwner, ownerArrived := false, false
		for _, o := range owners {
			if o == self {
				isOwner = true
			}
			ownerArrived = ownerArrived || arrived[o]
		}
		if isOwner {
			owned++
			if k, err := keyspace.Parse(hk.key); err == nil {
				postings[k.Name()] += hk.count
			}
		}
		if synced[hk.key] == fp && !dirty[hk.key] && !ownerArrived {
			continue
		}
		todo[hk.key] = fp
		for _, o := range owners {
			if o != self {
				perPeer[o] = append(perPeer[o], Digest{Key: hk.key, Count: hk.count, Digest: hk.digest})
				keyPeers[hk.key] = append(keyPeers[hk.key], o)
			}
		}
	}
	m.keysOwned.Set(float64(owned))
	for _, class := range []string{keyspace.NameTerm, keyspace.NameAuthor, keyspace.NameLabel} {
		m.keyPostings.WithLabelValues(class).Set(float64(postings[class]))
	}
	r.mu.Lock()
	r.ownedKeys = owned
	r.mu.Unlock()

	failedKeys := map[string]bool{}
	var errs []error
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(placeConcurrency)
	for p, digests := range perPeer {
		g.Go(func() error {
			bad, err := r.syncPeer(ctx, p, digests)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("sync with %s: %w", p, err))
				for _, d := range digests {
					failedKeys[d.Key] = true
				}
			}
			for _, k := range bad {
				failedKeys[k] = true
			}
			return nil
		})
	}
	_ = g.Wait() // failures are collected per peer above

	r.mu.Lock()
	for k, fp := range todo {
		if failedKeys[k] {
			r.dirty[k] = true
			continue
		}
		r.synced[k] = fp
	}
	// Forget keys no longer held.
	if len(r.synced) > 2*len(snap)+1024 {
		held := make(map[string]bool, len(snap))
		for _, hk := range snap {
			held[hk.key] = true
		}
		for k := range r.synced {
			if !held[k] {
				delete(r.synced, k)
			}
		}
	}
	r.mu.Unlock()
	m.keysUnderReplicated.Set(float64(len(failedKeys)))
	if len(todo) > 0 {
		r.s.log.Debug("repair pass", "keys", len(todo), "peers", len(perPeer), "failed_keys", len(failedKeys), "took", time.Since(start))
	}
	return errors.Join(errs...)
}

// syncPeer compares digests with p and sends p the posts it lacks under
// every key that differs: all of them where p holds nothing under the key,
// else those an ID-list exchange shows missing. It returns the keys it could
// not bring level.
func (r *repairer) syncPeer(ctx context.Context, p peer.ID, digests []Digest) ([]string, error) {
	differ, err := r.s.Differ(ctx, p, digests)
	if err != nil {
		return nil, err
	}
	var bad []string
	var toSend []*post.Post
	sendKeys := map[string][]string{} // post ID -> keys
	flush := func() error {
		if len(toSend) == 0 {
			return nil
		}
		err := r.push(ctx, p, toSend, sendKeys)
		toSend, sendKeys = nil, map[string][]string{}
		return err
	}
	queue := func(key string, ids []string) error {
		for _, id := range ids {
			if _, queued := sendKeys[id]; !queued {
				po, err := r.s.store.Get(ctx, id)
				if err != nil {
					continue // deleted meanwhile
				}
				toSend = append(toSend, po)
			}
			sendKeys[id] = append(sendKeys[id], key)
			if len(toSend) >= MaxPostsPerStore {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var lists []KeyIDs
	for _, theirs := range differ {
		k, err := keyspace.Parse(theirs.Key)
		if err != nil {
			continue
		}
		if theirs.Count == 0 && k.Class == keyspace.ClassTerm && k.Shard == "" && k.Month == "" {
			// An owner that holds nothing under a term's root it held
			// before, the owners unchanged, may have split it.
			if withOwners, _ := r.syncState(theirs.Key); withOwners {
				r.s.learnSplit(theirs.Key)
			}
		}
		ids, err := r.s.idsUnder(ctx, k)
		if err != nil {
			bad = append(bad, theirs.Key)
			continue
		}
		if theirs.Count == 0 {
			if err := queue(theirs.Key, ids); err != nil {
				return bad, err
			}
			continue
		}
		lists = append(lists, KeyIDs{Key: theirs.Key, IDs: ids})
	}
	if len(lists) > 0 {
		missing, err := r.s.Missing(ctx, p, lists)
		if err != nil {
			return bad, err
		}
		for _, m := range missing {
			if err := queue(m.Key, m.IDs); err != nil {
				return bad, err
			}
		}
	}
	return bad, flush()
}

// push stores posts at p under the given keys.
func (r *repairer) push(ctx context.Context, p peer.ID, posts []*post.Post, keys map[string][]string) error {
	req := storeRequest{}
	for _, po := range posts {
		raw, err := json.Marshal(po)
		if err != nil {
			continue
		}
		req.Posts = append(req.Posts, storeItem{Post: raw, Keys: keys[po.ID]})
	}
	var resp storeResponse
	if err := r.s.call(ctx, p, []protocol.ID{StoreProtocol(r.s.cfg.Network)}, "store", &req, &resp); err != nil {
		return err
	}
	handed := 0
	for i, res := range resp.Posts {
		if res.Error == "" {
			handed++
		} else if len(res.Deleted) > 0 {
			_ = r.s.applyTombstone(ctx, res.Deleted, metrics.ProtocolStore)
		} else if i < len(req.Posts) {
			r.s.log.Debug("owner refused a repaired post", "owner", p, "err", res.Error)
		}
	}
	r.s.metrics.handoffPosts.Add(float64(handed))
	return nil
}

// syncState reports whether key was synced with the owners it has now
// (withOwners), and whether nothing has marked it to sync again since
// (clean).
func (r *repairer) syncState(key string) (withOwners, clean bool) {
	owners, ok := r.s.owners.cached(key, false)
	if !ok {
		return false, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fp, synced := r.synced[key]
	withOwners = synced && fp == ownersFingerprint(owners)
	return withOwners, withOwners && !r.dirty[key]
}

// pendingTombstone is a tombstone some owners of its post's keys lack.
type pendingTombstone struct {
	raw  json.RawMessage
	keys []string
}

// queueTombstone remembers a tombstone some owners did not take.
func (r *repairer) queueTombstone(target string, t pendingTombstone) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.tombstones) < maxPendingTombstones {
		r.tombstones[target] = t
	}
}

func (r *repairer) resendTombstones(ctx context.Context) {
	r.mu.Lock()
	pending := r.tombstones
	r.tombstones = map[string]pendingTombstone{}
	r.mu.Unlock()
	for target, t := range pending {
		if err := r.s.sendTombstone(ctx, t.keys, t.raw); err != nil {
			r.queueTombstone(target, t)
		}
	}
}
