package index

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/murmur-p2p/murmur/post"
)

// profilePrefix keys the profiles the index keeps, by author.
const profilePrefix = "murmur:profile:"

// PutProfile keeps a verified profile unless the index holds a newer one
// of its author, and reports whether it was kept.
func (ix *Index) PutProfile(p *post.Profile) (kept bool, err error) {
	ix.profileMu.Lock()
	defer ix.profileMu.Unlock()
	old, err := ix.Profile(p.Author)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return false, err
	case !p.Newer(old):
		return false, nil
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("encode profile: %w", err)
	}
	if err := ix.bi.SetInternal([]byte(profilePrefix+p.Author), raw); err != nil {
		return false, fmt.Errorf("store profile of %s: %w", p.Author, err)
	}
	return true, nil
}

// Profile returns the profile the index keeps of author, ErrNotFound if
// none.
func (ix *Index) Profile(author string) (*post.Profile, error) {
	raw, err := ix.bi.GetInternal([]byte(profilePrefix + author))
	if err != nil {
		return nil, fmt.Errorf("read profile of %s: %w", author, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("profile of %s: %w", author, ErrNotFound)
	}
	p, err := post.DecodeProfile(raw)
	if err != nil {
		return nil, fmt.Errorf("stored profile of %s: %w", author, err)
	}
	return p, nil
}
