package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/query/netsearch"
)

// A node's figures of the network's collection statistics, per owner group
// of the keys it holds, for queriers to combine (netsearch.Coordinator's
// Totals): the members of a group hold the same keys, so they report the
// same figures, and a querier counts each group once.

// summaryCache keeps the node's last summary.
type summaryCache struct {
	mu      sync.Mutex
	local   netsearch.Summary
	localAt time.Time
	// localOf is the holdings version and membership epoch local was
	// computed for: a summary is reused only while both hold.
	localOf [2]uint64
}

// minLocalSummaryAge is how often at most the local summary is computed
// again while the holdings change: it walks every held key.
const minLocalSummaryAge = 200 * time.Millisecond

// localSummary computes this node's Summary, reused while neither what the
// node holds nor its view of the membership changed: the members of a
// group must report the same figures, so none may report old ones. It
// walks every held key, so it costs a few tens of milliseconds on a node
// with a hundred thousand keys, at most every minLocalSummaryAge.
func (s *Service) localSummary() netsearch.Summary {
	c := &s.summary
	of := [2]uint64{s.hold.Version(), s.owners.refresh()}
	c.mu.Lock()
	if !c.localAt.IsZero() && (c.localOf == of || time.Since(c.localAt) < minLocalSummaryAge) {
		sum := c.local
		c.mu.Unlock()
		return sum
	}
	c.mu.Unlock()

	// The node places each held key in its owner group as far as it knows
	// the owners without asking the network: a repair pass has looked up
	// every held key a moment ago.
	sum := netsearch.SummaryOf(s.self, func(yield func(string, int) bool) {
		for _, hk := range s.hold.snapshot() {
			if !yield(hk.key, hk.count) {
				return
			}
		}
	}, func(key string) ([]peer.ID, bool) { return s.owners.cached(key, false) })
	c.mu.Lock()
	c.local, c.localAt, c.localOf = sum, time.Now(), of
	c.mu.Unlock()
	return sum
}
