package p2p

import (
	"context"
	"math"
	"slices"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

// maxChanges bounds the membership changes a node remembers for
// SettlingKey; when more come in one settling window, every key settles.
const maxChanges = 4096

// change is one membership change the node saw: a peer that joined its
// view (the routing table, or a lookup that named a peer never seen) or
// left it.
type change struct {
	id   peer.ID
	kb   kb.ID
	at   time.Time
	left bool
}

// logChangeLocked records a change, with c.mu held. The first change after
// the settling window closed opens a new one: SettlingKey looks at the
// changes since. why says what changed, for the debug log.
func (c *ownerCache) logChangeLocked(id peer.ID, left bool, why string) {
	now := time.Now()
	c.s.log.Debug("membership changed", "member", id, "change", why)
	if r := c.s.repair; r != nil && now.UnixNano() >= r.settleUntil.Load() {
		// Open the window now, not when the repair loop notices the
		// change: a second change before that must not open it again.
		r.windowStart.Store(now.UnixNano())
		r.settleUntil.Store(math.MaxInt64)
	}
	c.changes = append(c.changes, change{id: id, kb: kb.ConvertPeerID(id), at: now, left: left})
	if len(c.changes) > maxChanges {
		drop := len(c.changes) - maxChanges/2
		c.truncated = c.changes[drop-1].at
		c.changes = slices.Delete(c.changes, 0, drop)
	}
}

// touched reports whether a change at since or later may have given key an
// owner that lacks its posts: a peer that joined and is one of owners, or
// one that left and was closer to key than the farthest of them (one of
// owners took its place). owners are key's owners now, closest first.
func (c *ownerCache) touched(key string, owners []peer.ID, since time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.truncated.IsZero() && !c.truncated.Before(since) {
		return true // changes of this window were forgotten
	}
	target := kbKey(key)
	var farthest kb.ID
	if len(owners) >= c.s.cfg.Replicas && len(owners) > 0 {
		farthest = kb.ConvertPeerID(owners[len(owners)-1])
	}
	for i := len(c.changes) - 1; i >= 0 && !c.changes[i].at.Before(since); i-- {
		ch := c.changes[i]
		if !ch.left {
			if slices.Contains(owners, ch.id) {
				return true
			}
			continue
		}
		if farthest == nil || closerTo(target, ch.kb, farthest) {
			return true
		}
	}
	return false
}

// SettlingKey reports whether key's owners may still be missing posts
// because the membership changed: the node is Settling, and since its
// settling window opened a peer joined that owns key now, or one left that
// was closer to key than one of its owners now (that owner took its
// place). Other keys' owners are those that held them before, so a search
// asks two of them rather than all. A node that has not settled once since
// it started counts every key as settling, and so does one that could not
// find the key's owners.
func (s *Service) SettlingKey(ctx context.Context, key string) bool {
	owners, since, settling, known := s.settlingWindow(ctx, key)
	return settling && (!known || s.owners.touched(key, owners, since))
}

// OrphanedKey reports whether every owner key had when the node's
// settling window opened has left since: its owners now are all new to it
// and may hold none of its posts until repair hands them over, so a search
// cannot vouch that its answer for key holds every match. A node that has
// not settled once does not know key's owners before, and says no.
func (s *Service) OrphanedKey(ctx context.Context, key string) bool {
	owners, since, _, known := s.settlingWindow(ctx, key)
	return known && s.owners.orphaned(key, owners, since)
}

// settlingWindow is what SettlingKey and OrphanedKey judge key by: whether
// the node is settling, and if so key's owners now and when the settling
// window opened; known is false while settling when the node cannot tell
// (it has not settled once since it started, or could not find key's
// owners).
func (s *Service) settlingWindow(ctx context.Context, key string) (owners []peer.ID, since time.Time, settling, known bool) {
	if !s.Settling() {
		return nil, time.Time{}, false, false
	}
	start := s.repair.windowStart.Load()
	if start == 0 {
		return nil, time.Time{}, true, false
	}
	owners, err := s.Owners(ctx, key)
	if err != nil {
		return nil, time.Time{}, true, false
	}
	return owners, time.Unix(0, start), true, true
}

// orphaned reports whether none of key's owners now (closest first) was
// one of its R owners at since: those were the R closest to key of the
// peers the node knew then, which are the owners now that did not join
// since and the peers that left since (every other peer now is farther
// than the owners). Changes of the window that were forgotten count as
// orphaning every key.
func (c *ownerCache) orphaned(key string, owners []peer.ID, since time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.truncated.IsZero() && !c.truncated.Before(since) {
		return true
	}
	first := map[peer.ID]change{} // each peer's earliest change since
	for i := len(c.changes) - 1; i >= 0 && !c.changes[i].at.Before(since); i-- {
		first[c.changes[i].id] = c.changes[i]
	}
	if len(first) == 0 {
		return false
	}
	var before []member
	for _, o := range owners {
		if ch, ok := first[o]; ok && !ch.left {
			continue // joined since
		}
		before = append(before, member{id: o, kb: kb.ConvertPeerID(o)})
	}
	for id, ch := range first {
		if ch.left && !slices.Contains(owners, id) {
			before = append(before, member{id: id, kb: ch.kb})
		}
	}
	prev := closest(before, kbKey(key), c.s.cfg.Replicas)
	for _, p := range prev {
		if slices.Contains(owners, p) {
			return false
		}
	}
	return len(prev) > 0
}
