package p2p

import (
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// An owner lends its idle capacity beyond a peer's rate (inbound.lend),
// but says nowhere how much it has: a querier learns it by borrowing. Per
// peer, for searches and statistics requests, the pacer keeps a loan: a
// rate of requests it may send beyond its paced share once that share is
// spent. A loan grows by loanGrowth requests a second for each borrowed
// request the peer answers as lent (lentMarker), so a loan in use doubles about every 0.1 s;
// it halves when the peer refuses one, and then the node borrows nothing
// from that peer for loanHold, twice as long for each refusal in a row
// without a borrowed request answered between (up to loanHoldMax), so a
// peer that lends nothing (an old version, NoLending, a peer always busy)
// sees a probe a minute at most. A refused request is sent once more
// within the paced share (pacer.settle), so the search that made it loses
// a round trip, not an answer. Refusals come a few at a time, at most once
// a hold, far below the offences (OffenceRate) that get a peer cut off.
const (
	// loanStart is a loan's rate, in requests a second, before the node
	// has borrowed from the peer, and the least it halves to.
	loanStart = 20
	// loanGrowth is what each answered borrowed request adds to its loan,
	// in requests a second.
	loanGrowth = 8
	// loanMax bounds a loan at the pacer's share of what an owner lends
	// all its peers together.
	loanMax = paceShare * SpareSearchRate
	// loanHold is how long a node borrows nothing from a peer that
	// refused a borrowed request, and loanHoldMax bounds it after refusals
	// in a row.
	loanHold    = time.Second
	loanHoldMax = 64 * time.Second
)

// loans are the node's loans from each peer for one protocol, the most
// recently used maxTrackedPeers of them. Safe for concurrent use.
type loans struct {
	mu     sync.Mutex
	byPeer *lru.Cache[peer.ID, *loan]
}

// loan is what one peer lends: the rate of requests the node may send it
// beyond its paced share, and until when the node borrows nothing.
type loan struct {
	limiter   *rate.Limiter
	heldUntil time.Time
	// strikes counts the refusals since the peer last answered a borrowed
	// request.
	strikes int
}

func newLoans() *loans {
	c, err := lru.New[peer.ID, *loan](maxTrackedPeers)
	if err != nil {
		panic(err) // only for a size below 1, a programming error
	}
	return &loans{byPeer: c}
}

// of is p's loan, a new one at loanStart if the node has none. The caller
// holds mu.
func (l *loans) of(p peer.ID) *loan {
	ln, ok := l.byPeer.Get(p)
	if !ok {
		ln = &loan{limiter: rate.NewLimiter(loanStart, loanBurst(loanStart))}
		l.byPeer.Add(p, ln)
	}
	return ln
}

// loanBurst is the burst of a loan of perSecond: a tenth of a second's.
func loanBurst(perSecond float64) int { return max(1, int(perSecond/10)) }

// take spends n of p's loan now, if p has not refused one within loanHold
// and its loan has n left.
func (l *loans) take(p peer.ID, n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ln := l.of(p)
	now := time.Now()
	return !now.Before(ln.heldUntil) && ln.limiter.AllowN(now, n)
}

// available reports whether take(p, 1) would succeed now, spending nothing.
func (l *loans) available(p peer.ID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ln, ok := l.byPeer.Peek(p)
	if !ok {
		return true
	}
	now := time.Now()
	return !now.Before(ln.heldUntil) && ln.limiter.TokensAt(now) >= 1
}

// repaid grows p's loan: p answered a borrowed request.
func (l *loans) repaid(p peer.ID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ln := l.of(p)
	ln.strikes = 0
	ln.set(min(loanMax, float64(ln.limiter.Limit())+loanGrowth))
}

// refused halves p's loan and holds it: p refused a request, so its spare
// capacity is taken. Refusals of requests already in flight when the first
// came count once.
func (l *loans) refused(p peer.ID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ln := l.of(p)
	now := time.Now()
	if now.Before(ln.heldUntil) {
		return
	}
	ln.set(max(loanStart, float64(ln.limiter.Limit())/2))
	ln.heldUntil = now.Add(min(loanHoldMax, loanHold<<min(ln.strikes, 6)))
	ln.strikes++
}

func (ln *loan) set(perSecond float64) {
	now := time.Now()
	ln.limiter.SetLimitAt(now, rate.Limit(perSecond))
	ln.limiter.SetBurstAt(now, loanBurst(perSecond))
}
