// Package follows keeps what a node's operator follows: authors and saved
// searches, in a file of the data directory, written durably on every
// change. The node reads them into its timeline.
package follows

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"

	"github.com/murmur-p2p/murmur/internal/secretfile"
)

// FileName is the file in the data directory that holds the follows.
const FileName = "follows.json"

// Bounds of the follows.
const (
	// MaxFollows bounds the authors and searches followed, together: each
	// is asked for every page of the timeline.
	MaxFollows = 100
	// maxFileBytes bounds the file read back.
	maxFileBytes = 1 << 20
)

// Kinds of follow.
const (
	KindAuthor = "author"
	KindSearch = "search"
)

var (
	// ErrFull is returned when MaxFollows are followed already.
	ErrFull = fmt.Errorf("already following %d authors and searches; unfollow one first", MaxFollows)
	// ErrNotFollowed is returned for removing what is not followed.
	ErrNotFollowed = errors.New("not followed")
)

// List is what is followed.
type List struct {
	Authors  []string `json:"authors"`
	Searches []string `json:"searches"`
}

// Len returns the follows in the list.
func (l List) Len() int { return len(l.Authors) + len(l.Searches) }

// Store is the follows of one data directory.
type Store struct {
	path string
	mu   sync.Mutex
	list List
}

// Open reads the follows in dir, none if the file does not exist yet.
func Open(dir string) (*Store, error) {
	s := &Store{path: filepath.Join(dir, FileName), list: List{Authors: []string{}, Searches: []string{}}}
	data, err := secretfile.Read(s.path, maxFileBytes)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("read follows: %w", err)
	}
	if err := json.Unmarshal(data, &s.list); err != nil {
		return nil, fmt.Errorf("read follows in %s: %w (fix or remove the file)", s.path, err)
	}
	if s.list.Authors == nil {
		s.list.Authors = []string{}
	}
	if s.list.Searches == nil {
		s.list.Searches = []string{}
	}
	return s, nil
}

// List returns a copy of what is followed.
func (s *Store) List() List {
	s.mu.Lock()
	defer s.mu.Unlock()
	return List{Authors: slices.Clone(s.list.Authors), Searches: slices.Clone(s.list.Searches)}
}

// Add follows value of kind (KindAuthor or KindSearch), already checked by
// the caller, and reports whether it was new; the file is written before
// it returns.
func (s *Store) Add(kind, value string) (added bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.kind(kind)
	if l == nil {
		return false, fmt.Errorf("unknown kind of follow %q", kind)
	}
	if slices.Contains(*l, value) {
		return false, nil
	}
	if s.list.Len() >= MaxFollows {
		return false, ErrFull
	}
	*l = append(*l, value)
	if err := s.save(); err != nil {
		*l = (*l)[:len(*l)-1]
		return false, err
	}
	return true, nil
}

// Remove unfollows value of kind; ErrNotFollowed if it was not followed.
func (s *Store) Remove(kind, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.kind(kind)
	if l == nil {
		return fmt.Errorf("unknown kind of follow %q", kind)
	}
	i := slices.Index(*l, value)
	if i < 0 {
		return fmt.Errorf("%s %q: %w", kind, value, ErrNotFollowed)
	}
	old := slices.Clone(*l)
	*l = slices.Delete(*l, i, i+1)
	if err := s.save(); err != nil {
		*l = old
		return err
	}
	return nil
}

func (s *Store) kind(kind string) *[]string {
	switch kind {
	case KindAuthor:
		return &s.list.Authors
	case KindSearch:
		return &s.list.Searches
	}
	return nil
}

func (s *Store) save() error {
	data, err := json.MarshalIndent(s.list, "", "  ")
	if err != nil {
		return fmt.Errorf("encode follows: %w", err)
	}
	if err := secretfile.Write(s.path, append(data, '\n')); err != nil {
		return fmt.Errorf("write follows: %w", err)
	}
	return nil
}
