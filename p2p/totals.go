package p2p

import (
	"sync"
	"time"

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
	// localOf is the holdings version, membership epoch and version of
	// what lookups taught (ownerCache.taught) local was computed for: a
	// summary is reused only while all three hold.
	localOf [3]uint64
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
	of := [3]uint64{s.hold.Version(), s.owners.refresh(), s.owners.taughtVersion()}
	c.mu.Lock()
	if !c.localAt.IsZero() && (c.localOf == of || time.Since(c.localAt) < minLocalSummaryAge) {
		sum := c.local
		c.mu.Unlock()
		return sum
	}
	c.mu.Unlock()

	// The node places each held key in its owner group as far as it knows
	// the owners without asking the network (ownerCache.lastKnown): a
	// repair pass looks up again every held key whose answer expired or
	// was dropped by a change of the routing table, and until it has, the
	// answer before stands. Skipping those keys made owners report less
	// than they hold, and a group's low median with them: under -race
	// beside other packages, 32 nodes all read 199 of 200 posts and 2,488
	// of 2,512 terms with every key at its owners (internal/simnet's
	// survey test), with hundreds of held keys a node past their answers.
	sum := netsearch.SummaryOf(s.self, func(yield func(string, int) bool) {
		for _, hk := range s.hold.snapshot() {
			if !yield(hk.key, hk.count) {
				return
			}
		}
	}, s.owners.lastKnown)
	c.mu.Lock()
	c.local, c.localAt, c.localOf = sum, time.Now(), of
	c.mu.Unlock()
	return sum
}
