package crawl

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// sourceState is what the crawler keeps of one source, one JSON file each
// under Dir/sources, rewritten (atomically) after every fetch.
type sourceState struct {
	URL string `json:"url"`
	// Resolved is where the source's items really are: the feed an HTML page
	// links, or an actor's outbox. Later fetches go there directly.
	Resolved     string    `json:"resolved,omitempty"`
	Added        time.Time `json:"added"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	LastFetch    time.Time `json:"last_fetch,omitzero"`
	NextRun      time.Time `json:"next_run"`
	Status       string    `json:"status,omitempty"`
	Error        string    `json:"error,omitempty"`
	HTTP         int       `json:"http,omitempty"`
	Failures     int       `json:"failures,omitempty"`
	ItemsSeen    int64     `json:"items_seen"`
	LastNew      int       `json:"last_new"`
	// Seen holds hashes of the keys of items already stored, oldest first,
	// at most MaxSeen.
	Seen []string `json:"seen,omitempty"`

	seen map[string]bool
}

func (s *sourceState) index() {
	s.seen = make(map[string]bool, len(s.Seen))
	for _, k := range s.Seen {
		s.seen[k] = true
	}
}

// seenKey hashes an item key: 96 bits keep collisions out of reach for any
// number of items a source could hold, in 16 bytes of file.
func seenKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

func (s *sourceState) hasSeen(k string) bool { return s.seen[k] }

func (s *sourceState) markSeen(k string) {
	if s.seen[k] {
		return
	}
	s.seen[k] = true
	s.Seen = append(s.Seen, k)
	if over := len(s.Seen) - MaxSeen; over > 0 {
		for _, old := range s.Seen[:over] {
			delete(s.seen, old)
		}
		s.Seen = append([]string(nil), s.Seen[over:]...)
	}
}

func (s *sourceState) clone() *sourceState {
	c := *s
	c.Seen = append([]string(nil), s.Seen...)
	c.seen = nil
	return &c
}

func sourceFile(dir, u string) string {
	sum := sha256.Sum256([]byte(u))
	return filepath.Join(dir, "sources", hex.EncodeToString(sum[:10])+".json")
}

func loadSources(dir string) (map[string]*sourceState, error) {
	if err := os.MkdirAll(filepath.Join(dir, "sources"), 0o700); err != nil {
		return nil, fmt.Errorf("create crawl directory: %w", err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "sources"))
	if err != nil {
		return nil, fmt.Errorf("read crawl sources: %w", err)
	}
	out := map[string]*sourceState{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(dir, "sources", e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read crawl source %s: %w", path, err)
		}
		var s sourceState
		if err := json.Unmarshal(data, &s); err != nil || s.URL == "" {
			return nil, fmt.Errorf("crawl source %s is damaged (%v); delete it to drop the source", path, err)
		}
		if len(s.Seen) > MaxSeen {
			s.Seen = s.Seen[len(s.Seen)-MaxSeen:]
		}
		s.index()
		out[s.URL] = &s
	}
	return out, nil
}

func saveSource(dir string, s *sourceState) error {
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode crawl source %s: %w", s.URL, err)
	}
	path := sourceFile(dir, s.URL)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("save crawl source %s: %w", s.URL, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save crawl source %s: %w", s.URL, err)
	}
	return nil
}

func deleteSource(dir, u string) error {
	if err := os.Remove(sourceFile(dir, u)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove crawl source %s: %w", u, err)
	}
	return nil
}
