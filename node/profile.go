package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/post"
)

// Timing and bounds of profiles.
const (
	// ProfileRepublish is how often a node sends its own profile to the
	// current owners of its profile key again, so that owners that joined
	// since hold it.
	ProfileRepublish = 30 * time.Minute
	// profileFetchTimeout bounds fetching the profiles a page names.
	profileFetchTimeout = 2 * time.Second
	// profileTTL and noProfileTTL are how long a fetched profile, or
	// the lack of one, is reused.
	profileTTL   = 10 * time.Minute
	noProfileTTL = time.Minute
	// maxCachedProfiles bounds the profiles cached; the cache starts over
	// when full.
	maxCachedProfiles = 10000
)

type cachedProfile struct {
	p       *post.Profile // nil: the author has none
	expires time.Time
}

// profileCache holds the profiles a node fetched from the network.
type profileCache struct {
	mu sync.Mutex
	m  map[string]cachedProfile
}

// SetProfile signs the node's profile, keeps it, and sends it to the owners
// of its profile key. It returns the profile, and an error if no other
// owner kept it (it is kept here and sent again every ProfileRepublish).
func (n *Node) SetProfile(ctx context.Context, name, bio string) (*post.Profile, error) {
	p, err := post.SignProfile(n.key, name, bio, n.cfg.Now())
	if err != nil {
		return nil, err
	}
	if _, err := n.index.PutProfile(p); err != nil {
		return nil, err
	}
	n.profiles.mu.Lock()
	delete(n.profiles.m, p.Author)
	n.profiles.mu.Unlock()
	if _, err := n.net.PlaceProfile(ctx, p); err != nil {
		return p, fmt.Errorf("profile kept on this node only for now: %w", err)
	}
	return p, nil
}

// Profiles returns the profiles of authors that the node keeps or can
// fetch within profileFetchTimeout, by author; authors without a profile
// are missing.
func (n *Node) Profiles(ctx context.Context, authors []string) map[string]*post.Profile {
	out := map[string]*post.Profile{}
	var missing []string
	now := time.Now()
	n.profiles.mu.Lock()
	for _, a := range authors {
		if _, done := out[a]; done {
			continue
		}
		if c, ok := n.profiles.m[a]; ok && now.Before(c.expires) {
			if c.p != nil {
				out[a] = c.p
			}
			continue
		}
		missing = append(missing, a)
	}
	n.profiles.mu.Unlock()
	var fetch []string
	for _, a := range missing {
		if p, err := n.index.Profile(a); err == nil {
			out[a] = p
		} else {
			fetch = append(fetch, a)
		}
	}
	if len(fetch) == 0 {
		return out
	}
	fctx, cancel := context.WithTimeout(ctx, profileFetchTimeout)
	defer cancel()
	got := n.net.FetchProfiles(fctx, fetch)
	n.profiles.mu.Lock()
	defer n.profiles.mu.Unlock()
	if n.profiles.m == nil || len(n.profiles.m) >= maxCachedProfiles {
		n.profiles.m = map[string]cachedProfile{}
	}
	for _, a := range fetch {
		p := got[a]
		if p != nil {
			out[a] = p
			n.profiles.m[a] = cachedProfile{p: p, expires: now.Add(profileTTL)}
		} else if fctx.Err() == nil {
			n.profiles.m[a] = cachedProfile{expires: now.Add(noProfileTTL)}
		}
	}
	return out
}

// Profile returns one author's profile; index.ErrNotFound if none is kept
// or found.
func (n *Node) Profile(ctx context.Context, author string) (*post.Profile, error) {
	if p, ok := n.Profiles(ctx, []string{author})[author]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("profile of %s: %w", author, index.ErrNotFound)
}

// republishProfile sends the node's own profile to its key's owners every
// ProfileRepublish, until ctx ends.
func (n *Node) republishProfile(ctx context.Context) {
	t := time.NewTicker(ProfileRepublish)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p, err := n.index.Profile(n.id.String())
		if errors.Is(err, index.ErrNotFound) {
			continue
		}
		if err != nil {
			n.log.Warn("read own profile", "err", err)
			continue
		}
		if _, err := n.net.PlaceProfile(ctx, p); err != nil && ctx.Err() == nil {
			n.log.Warn("send own profile to its owners", "err", err)
		}
	}
}

// KeptProfile returns the profile of author this node keeps itself, as an
// owner of its profile key or its author (index.ErrNotFound if none).
func (n *Node) KeptProfile(author string) (*post.Profile, error) { return n.index.Profile(author) }
