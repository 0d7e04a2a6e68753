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
		r.firstWindow.CompareAndSwap(0, now.UnixNano())
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
	if c.forgotLocked(since) {
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
// because the membership changed: since its settling window opened, or
// within KeySettleFor, a peer joined that owns key now, or one left that
// was closer to key than one of its owners now (that owner took its
// place). Other keys' owners are those that held them before, so a search
// asks two of them rather than all. A node that has not settled once since
// it started counts every key as settling, and so does one that could not
// find the key's owners while a change is that recent.
//
// The window closes a margin after this node's own repair pass, but a new
// owner gets its posts from the other holders' passes: CI's 12-node test,
// 3 of 12 killed at once, found a new owner holding 608 of a term's 615
// matches and answering it alone after its window had closed.
func (s *Service) SettlingKey(ctx context.Context, key string) bool {
	owners, since, recent, known := s.settlingWindow(ctx, key)
	return recent && (!known || s.owners.touched(key, owners, since))
}

// PriorOwners returns those of key's owners now that were already its
// owners before the recent membership changes (those SettlingKey looks
// at). They hold every post of key; the others may lack some until repair
// hands them over, so an answer for key that none of them gave cannot
// vouch that it holds every match, whether the prior owners all left or
// one is alive but did not answer (dead and not yet found gone, busy,
// slow). ok is false when no change is recent, or the node cannot tell
// (it could not find key's owners): then every owner counts.
//
// A node that has not settled once since it started met every peer
// during that time: those are the network's members, not peers that
// joined it, so only the peers that left since the start count. Before,
// such a node did not judge at all, and CI's 12-node test, with 3 of 12
// killed about as long after the start as the first settling takes, found
// "from:fortune-cs" answered by new owners alone, 5 of its 1,812 matches
// missing without a word.
func (s *Service) PriorOwners(ctx context.Context, key string) (prior []peer.ID, ok bool) {
	if s.repair.windowStart.Load() == 0 {
		// Not settled once since the start (settlingWindow cannot tell):
		// every change since the start, leaves alone.
		if !s.Settling() {
			return nil, false
		}
		owners, err := s.Owners(ctx, key)
		if err != nil {
			return nil, false
		}
		return s.owners.prior(key, owners, time.Time{}, true)
	}
	owners, since, recent, known := s.settlingWindow(ctx, key)
	if !recent || !known {
		return nil, false
	}
	return s.owners.prior(key, owners, since, false)
}

// settlingWindow is what SettlingKey and PriorOwners judge key by. recent
// is whether the node is settling or saw a change of membership within
// KeySettleFor (after its start-up); if so, since is when the changes to
// look at began (the open window's start, or KeySettleFor ago if
// earlier) and owners are key's owners now. known is false when the node
// cannot tell: it has not settled once since it started, or could not
// find key's owners.
func (s *Service) settlingWindow(ctx context.Context, key string) (owners []peer.ID, since time.Time, recent, known bool) {
	settling := s.Settling()
	start := s.repair.windowStart.Load()
	if start == 0 {
		return nil, time.Time{}, settling, false
	}
	if settling {
		since = time.Unix(0, start)
	}
	if d := s.cfg.KeySettleFor; d > 0 {
		horizon := time.Now().Add(-d)
		if first := time.Unix(0, s.repair.firstWindow.Load()); horizon.Before(first) {
			horizon = first // start-up changes are no change
		}
		if since.IsZero() || horizon.Before(since) {
			since = horizon
		}
	}
	if since.IsZero() || (!settling && !s.owners.changedSince(since)) {
		return nil, time.Time{}, false, false
	}
	owners, err := s.Owners(ctx, key)
	if err != nil {
		return nil, time.Time{}, true, false
	}
	return owners, since, true, true
}

// forgotLocked reports, with c.mu held, whether changes at since or later
// were dropped to keep within maxChanges.
func (c *ownerCache) forgotLocked(since time.Time) bool {
	return !c.truncated.IsZero() && !c.truncated.Before(since)
}

// changedSince reports whether the node saw a change of membership at
// since or later (or forgot one).
func (c *ownerCache) changedSince(since time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgotLocked(since) {
		return true
	}
	return len(c.changes) > 0 && !c.changes[len(c.changes)-1].at.Before(since)
}

// prior returns those of key's owners now (closest first) that were
// among its R owners at since: the R closest to key of the peers the node
// knew then, which are the owners now that did not join since and the
// peers that left since (every other peer now is farther than the
// owners). Changes of the window that were forgotten count as making
// every owner new. ok is false when the node knew none of them: every
// owner now joined since, and none left. leavesOnly counts no peer as
// joined (the node's start-up, when it met every member); forgotten
// changes then leave the node unable to tell.
func (c *ownerCache) prior(key string, owners []peer.ID, since time.Time, leavesOnly bool) (out []peer.ID, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgotLocked(since) {
		return nil, !leavesOnly
	}
	first := map[peer.ID]change{} // each peer's earliest change since
	for i := len(c.changes) - 1; i >= 0 && !c.changes[i].at.Before(since); i-- {
		if ch := c.changes[i]; !leavesOnly || ch.left {
			first[ch.id] = ch
		}
	}
	if len(first) == 0 {
		return owners, true
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
	if len(before) == 0 {
		return nil, false
	}
	for _, p := range closest(before, kbKey(key), c.s.cfg.Replicas) {
		if slices.Contains(owners, p) {
			out = append(out, p)
		}
	}
	return out, true
}
