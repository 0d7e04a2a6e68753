package p2p

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/post"
)

// handleSync serves the sync protocol: compare key digests, or report which
// of a key's posts this node lacks.
func (s *Service) handleSync(st network.Stream) {
	var req syncRequest
	s.serve(st, s.syncIn, &req, func(ctx context.Context, from peer.ID) (any, error) {
		return s.answerSync(ctx, from, &req)
	})
}

// lookups are the IDs of req's lists under well-formed keys, which its
// answer looks up, and the work it asks: a lookup per ID and per digest
// (budgeted by syncWork, and by the sender's pacer).
func (req *syncRequest) lookups() (ids []string, work int) {
	for _, l := range req.Lists {
		if _, err := keyspace.Parse(l.Key); err == nil {
			ids = append(ids, l.IDs...)
		}
	}
	return ids, len(ids) + len(req.Digests)
}

func (s *Service) answerSync(ctx context.Context, from peer.ID, req *syncRequest) (*syncResponse, error) {
	ids, work := req.lookups()
	if !s.syncWork.AllowN(from, work) {
		return nil, refuse(metrics.RefusedWorkBudget, "sync request of %d lookups is over %s's budget of %d a second", work, from, SyncWorkRate)
	}
	resp := &syncResponse{}
	for _, d := range req.Digests {
		if _, err := keyspace.Parse(d.Key); err != nil {
			continue
		}
		if n, dg := s.hold.Digest(d.Key); n != d.Count || dg != d.Digest {
			resp.Differ = append(resp.Differ, Digest{Key: d.Key, Count: n, Digest: dg})
		}
	}
	// Every holder indexes a post whole, so holding it is holding it under
	// each of its keys: one lookup per ID answers, whatever the size of
	// the keys named.
	held, err := s.store.Holds(ctx, ids)
	if err != nil {
		return nil, err
	}
	have := make(map[string]bool, len(ids))
	for i, id := range ids {
		if held[i] {
			have[id] = true
		}
	}
	for _, l := range req.Lists {
		if _, err := keyspace.Parse(l.Key); err != nil {
			continue
		}
		var missing []string
		for _, id := range l.IDs {
			if have[id] {
				continue
			}
			if t, err := s.store.Tombstone(id); err == nil {
				raw, _ := json.Marshal(t)
				resp.Deleted = append(resp.Deleted, raw)
				continue
			}
			missing = append(missing, id)
		}
		if len(missing) > 0 {
			resp.Missing = append(resp.Missing, KeyIDs{Key: l.Key, IDs: missing})
		}
	}
	return resp, nil
}

// idsUnder lists, sorted, the IDs of the posts this node holds under key.
func (s *Service) idsUnder(ctx context.Context, k keyspace.Key) ([]string, error) {
	var ids []string
	var err error
	if k.Month != "" {
		// A node of a split term's trie: its month, then its prefix.
		start, end, merr := keyspace.MonthSpan(k.Month)
		if merr != nil {
			return nil, merr
		}
		ids, err = s.store.IDsWithTermBetween(ctx, k.Field(), k.Value, start, end)
	} else {
		ids, err = s.store.IDsWithTerm(ctx, k.Field(), k.Value)
	}
	if err != nil {
		return nil, err
	}
	out := ids[:0]
	for _, id := range ids {
		if k.Matches(id) && (k.Bits == "" || keyspace.PrefixOf(id, len(k.Bits)) == k.Bits) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Missing asks owner which of the listed IDs it lacks under each key, in as
// few requests as the bounds allow. Tombstones the owner knows are applied
// locally and the posts left out.
func (s *Service) Missing(ctx context.Context, owner peer.ID, lists []KeyIDs) ([]KeyIDs, error) {
	var out []KeyIDs
	var batch []KeyIDs
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var resp syncResponse
		if err := s.call(ctx, owner, []protocol.ID{SyncProtocol(s.cfg.Network)}, "sync", &syncRequest{Lists: batch}, &resp); err != nil {
			return err
		}
		out = append(out, resp.Missing...)
		out = append(out, s.applyDeleted(ctx, owner, batch, resp.Deleted)...)
		batch, n = nil, 0
		return nil
	}
	for _, l := range lists {
		for start := 0; start < len(l.IDs); start += MaxIDsPerSync {
			part := l.IDs[start:min(start+MaxIDsPerSync, len(l.IDs))]
			if n+len(part) > MaxIDsPerSync {
				if err := flush(); err != nil {
					return nil, err
				}
			}
			batch = append(batch, KeyIDs{Key: l.Key, IDs: part})
			n += len(part)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// applyDeleted applies the tombstones an owner sent for IDs this node
// listed, and returns, as lacking at that owner, the IDs whose tombstone
// does not apply: one not signed by the post's author deletes nothing, and
// an owner that answers with one does not hold the post.
func (s *Service) applyDeleted(ctx context.Context, owner peer.ID, asked []KeyIDs, deleted []json.RawMessage) []KeyIDs {
	if len(deleted) == 0 {
		return nil
	}
	keyOf := map[string]string{}
	for _, l := range asked {
		for _, id := range l.IDs {
			keyOf[id] = l.Key
		}
	}
	lacking := map[string][]string{}
	for _, raw := range deleted {
		t, err := post.DecodeTombstone(raw)
		if err != nil {
			s.countRefused(metrics.ProtocolSync, metrics.RefusedMalformed)
			continue
		}
		key, ok := keyOf[t.Target]
		if !ok {
			continue // not asked about: ignored
		}
		if err := s.applyTombstone(ctx, raw, metrics.ProtocolSync); err != nil {
			s.log.Debug("tombstone from a peer does not apply", "owner", owner, "err", err)
			lacking[key] = append(lacking[key], t.Target)
		}
	}
	out := make([]KeyIDs, 0, len(lacking))
	for k, ids := range lacking {
		out = append(out, KeyIDs{Key: k, IDs: ids})
	}
	return out
}

// Differ sends digests to p and returns p's own digests of the keys that
// differ.
func (s *Service) Differ(ctx context.Context, p peer.ID, digests []Digest) ([]Digest, error) {
	var out []Digest
	for start := 0; start < len(digests); start += MaxDigestsPerSync {
		part := digests[start:min(start+MaxDigestsPerSync, len(digests))]
		var resp syncResponse
		if err := s.call(ctx, p, []protocol.ID{SyncProtocol(s.cfg.Network)}, "sync", &syncRequest{Digests: part}, &resp); err != nil {
			return nil, fmt.Errorf("compare %d digests: %w", len(part), err)
		}
		out = append(out, resp.Differ...)
	}
	return out, nil
}

// HeldUnder lists, sorted, the IDs of the posts this node holds under key.
func (s *Service) HeldUnder(ctx context.Context, key string) ([]string, error) {
	k, err := keyspace.Parse(key)
	if err != nil {
		return nil, err
	}
	return s.idsUnder(ctx, k)
}

// LocalDigest is this node's digest of key.
func (s *Service) LocalDigest(key string) Digest {
	n, d := s.hold.Digest(key)
	return Digest{Key: key, Count: n, Digest: d}
}

// DigestOf computes the digest of a set of post IDs under key, as an owner
// holding exactly those posts would report it.
func DigestOf(key string, ids []string) Digest {
	var acc [32]byte
	n := 0
	for _, id := range ids {
		var b [32]byte
		if _, err := hex.Decode(b[:], []byte(id)); err != nil {
			continue
		}
		n++
		for i := range acc {
			acc[i] ^= b[i]
		}
	}
	return Digest{Key: key, Count: n, Digest: hex.EncodeToString(acc[:])}
}
