package p2p

import (
	"fmt"
	"sync"

	"github.com/murmur-p2p/murmur/keyspace"
)

// MaxSplitRecords bounds the split records a node keeps as an owner.
const MaxSplitRecords = 10_000

// splitBook holds the split records of the roots this node owns, which its
// count answers carry (docs/split-keys.md). Until owners split keys
// themselves (step 3) a record is only set by SetSplit.
type splitBook struct {
	mu      sync.Mutex
	records map[string]keyspace.Split
}

func (b *splitBook) get(key string) (keyspace.Split, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	sp, ok := b.records[key]
	return sp, ok
}

// SetSplit records, as an owner of root, how root's postings are split:
// count answers for root carry the record, and count the whole trie. root
// must be the whole key of a term that protocol version 1 does not shard.
func (s *Service) SetSplit(root string, sp keyspace.Split) error {
	k, err := keyspace.Parse(root)
	if err != nil {
		return fmt.Errorf("split record: %w", err)
	}
	if n, ok := k.Node(); !ok || n != n.Root() || k.Class != keyspace.ClassTerm {
		return fmt.Errorf("split record: %s is not the root of a term's trie", root)
	}
	if err := sp.Check(); err != nil {
		return err
	}
	b := &s.splits
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.records[root]; !ok && len(b.records) >= MaxSplitRecords {
		return fmt.Errorf("split record of %s: %d records kept already", root, MaxSplitRecords)
	}
	if b.records == nil {
		b.records = map[string]keyspace.Split{}
	}
	b.records[root] = sp
	return nil
}
