package p2p

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"golang.org/x/sync/errgroup"

	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/post"
)

// MaxProfilesPerRequest bounds the profiles one store or stats message
// carries or asks for.
const MaxProfilesPerRequest = 32

// applyProfile keeps a profile a peer sent, if this node owns its
// author's profile key.
func (s *Service) applyProfile(raw json.RawMessage) error {
	p, err := post.DecodeProfile(raw)
	if err != nil {
		s.countRefused(metrics.ProtocolStore, metrics.RefusedMalformed)
		return err
	}
	if !s.owners.mayOwn(keyspace.ProfileKey(p.Author), s.cfg.Replicas+OwnerMargin) {
		s.countRefused(metrics.ProtocolStore, metrics.RefusedNotOwner)
		return fmt.Errorf("this node does not own the profile key of %s", p.Author)
	}
	if _, err := s.store.PutProfile(p); err != nil {
		return fmt.Errorf("keep profile: %w", err)
	}
	return nil
}

// PlaceProfile sends a profile, which this node keeps already, to the
// other owners of its author's profile key, and returns how many kept it.
func (s *Service) PlaceProfile(ctx context.Context, p *post.Profile) (int, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return 0, fmt.Errorf("encode profile: %w", err)
	}
	owners, err := s.Owners(ctx, keyspace.ProfileKey(p.Author))
	if err != nil {
		return 0, fmt.Errorf("owners of %s's profile: %w", p.Author, err)
	}
	var mu sync.Mutex
	kept := 0
	var errs []error
	var g errgroup.Group
	for _, o := range owners {
		if o == s.self {
			mu.Lock()
			kept++
			mu.Unlock()
			continue
		}
		g.Go(func() error {
			var resp storeResponse
			err := s.call(ctx, o, []protocol.ID{StoreProtocol(s.cfg.Network)}, metrics.ProtocolStore, &storeRequest{Profiles: []json.RawMessage{raw}}, &resp)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case len(resp.Profiles) != 1:
				errs = append(errs, fmt.Errorf("%s answered for %d profiles, sent 1", o, len(resp.Profiles)))
			case resp.Profiles[0] != "":
				errs = append(errs, fmt.Errorf("%s refused the profile: %s", o, resp.Profiles[0]))
			default:
				kept++
			}
			return nil
		})
	}
	_ = g.Wait() // errors are in errs
	if kept == 0 {
		return 0, fmt.Errorf("no owner kept the profile: %w", errors.Join(errs...))
	}
	return kept, nil
}

// FetchProfiles asks the owners of the authors' profile keys for their
// profiles: the closest owner of each, one request per peer, at most
// MaxProfilesPerRequest authors to a peer. It returns the verified
// profiles it got, by author; authors without one are missing.
func (s *Service) FetchProfiles(ctx context.Context, authors []string) map[string]*post.Profile {
	byPeer := map[peer.ID][]string{}
	for _, a := range authors {
		owners, err := s.Owners(ctx, keyspace.ProfileKey(a))
		if err != nil || len(owners) == 0 {
			continue
		}
		o := owners[0]
		if len(byPeer[o]) < MaxProfilesPerRequest {
			byPeer[o] = append(byPeer[o], a)
		}
	}
	out := map[string]*post.Profile{}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(8)
	for p, asked := range byPeer {
		g.Go(func() error {
			var raws []json.RawMessage
			if p == s.self {
				raws = s.answerStats(&statsRequest{Profiles: asked}).Profiles
			} else {
				var resp statsResponse
				if err := s.call(ctx, p, StatsProtocols(s.cfg.Network), metrics.ProtocolStats, &statsRequest{Profiles: asked}, &resp); err != nil {
					s.log.Debug("profiles not fetched", "peer", p, "err", err)
					return nil
				}
				raws = resp.Profiles
			}
			want := map[string]bool{}
			for _, a := range asked {
				want[a] = true
			}
			mu.Lock()
			defer mu.Unlock()
			for _, raw := range raws {
				pr, err := post.DecodeProfile(raw)
				if err != nil || !want[pr.Author] {
					// A profile that does not verify, or of an author not
					// asked for, is a lie: left out.
					continue
				}
				if old, ok := out[pr.Author]; !ok || pr.Newer(old) {
					out[pr.Author] = pr
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	return out
}
