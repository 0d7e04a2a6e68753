package p2p

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// paceShare is the share of a peer's inbound bounds that this node's own
// requests to it keep to. The margin absorbs requests that leave evenly
// and arrive bunched.
const paceShare = 0.9

// A peer refuses the requests over its bounds (newInbound, postBudget,
// syncWork) and cuts off a peer whose requests keep being refused
// (offenders): a busy honest node that sent as fast as its own users ask
// would be banned by every peer it asks and drop out of the network. The
// pacer keeps the node's own requests to each peer within paceShare of
// those bounds: a request waits for its peer's budget, and fails here,
// unsent, when the wait would outlast its context. Every node runs the
// same bounds (they are part of the protocol), so a node need not be told
// its peers'.
type pacer struct {
	byProtocol map[string]*outboundBudget
	waited     *prometheus.CounterVec
	gaveUp     *prometheus.CounterVec
	borrowed   *prometheus.CounterVec
}

// outboundBudget mirrors one protocol's inbound bounds, per peer: its
// requests, their bytes, and the work they ask (posts to verify for store,
// lookups for sync), nil where the protocol bounds none; and, where peers
// lend spare capacity (search, stats), the node's loans.
type outboundBudget struct {
	requests, bytes, work *peerLimiter
	loans                 *loans
}

// pacedBurst is paceShare of a peer's burst.
func pacedBurst(burst int) int { return int(paceShare * float64(burst)) }

func newPacer(reg prometheus.Registerer) *pacer {
	budget := func(rate float64, burst int, bytesRate float64) *outboundBudget {
		return &outboundBudget{
			requests: newPeerLimiter(paceShare*rate, pacedBurst(burst)),
			bytes:    newPeerLimiter(paceShare*bytesRate, pacedBurst(PeerBytesBurst)),
		}
	}
	store := budget(PeerRequestRate, PeerRequestBurst, PeerStoreBytesRate)
	store.work = newPeerLimiter(paceShare*PeerPostRate, pacedBurst(PeerPostBurst))
	sync := budget(PeerRequestRate, PeerRequestBurst, PeerSyncBytesRate)
	sync.work = newPeerLimiter(paceShare*SyncWorkRate, pacedBurst(SyncWorkBurst))
	search := budget(PeerSearchRate, PeerSearchBurst, PeerQueryBytesRate)
	search.loans = newLoans()
	stats := budget(PeerSearchRate, PeerSearchBurst, PeerQueryBytesRate)
	stats.loans = newLoans()
	p := &pacer{
		byProtocol: map[string]*outboundBudget{
			metrics.ProtocolStore:    store,
			metrics.ProtocolSync:     sync,
			metrics.ProtocolSearch:   search,
			metrics.ProtocolStats:    stats,
			metrics.ProtocolLive:     budget(PeerSubscribeRate, PeerSubscribeBurst, PeerQueryBytesRate),
			metrics.ProtocolDialback: budget(PeerDialbackRate, PeerDialbackBurst, PeerQueryBytesRate),
		},
		waited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metrics.RequestsPaced,
			Help: "Requests to peers that waited for the peer's rate (the bounds every node applies to each peer's requests).",
		}, []string{"protocol"}),
		gaveUp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metrics.RequestsUnsent,
			Help: "Requests to peers not sent: the wait for the peer's rate would have outlasted the request's deadline.",
		}, []string{"protocol"}),
		borrowed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metrics.RequestsBorrowed,
			Help: "Requests to peers sent beyond the peer's rate on its spare capacity, by protocol and outcome (ok: answered; refused: sent again within the rate).",
		}, []string{"protocol", "outcome"}),
	}
	for name, b := range p.byProtocol {
		p.waited.WithLabelValues(name)
		p.gaveUp.WithLabelValues(name)
		if b.loans != nil {
			p.borrowed.WithLabelValues(name, metrics.OutcomeOK)
			p.borrowed.WithLabelValues(name, metrics.OutcomeRefused)
		}
	}
	reg.MustRegister(p.waited, p.gaveUp, p.borrowed)
	return p
}

// wait spends req's cost of to's budget for protocol name (size is its
// encoded body), waiting until the budget has it. It fails, spending
// nothing more, when the wait would outlast ctx. A nil pacer never waits.
//
// With mayBorrow, a request the paced share has no room for is sent at
// once on to's loan, where it has one (borrowed). The caller reports the
// outcome to settle.
func (p *pacer) wait(ctx context.Context, name string, to peer.ID, req any, size int, mayBorrow bool) (borrowed bool, err error) {
	if p == nil {
		return false, nil
	}
	b, ok := p.byProtocol[name]
	if !ok {
		return false, nil
	}
	waited := false
	spend := func(l *peerLimiter, n int, what string) error {
		if l == nil || n <= 0 {
			return nil
		}
		w, err := l.WaitN(ctx, to, n)
		waited = waited || w
		if err != nil {
			p.gaveUp.WithLabelValues(name).Inc()
			return fmt.Errorf("%s request to %s over its rate of %s: %w", name, to, what, err)
		}
		return nil
	}
	cost := requestCost(req)
	switch {
	case b.requests.AllowN(to, cost):
	case mayBorrow && b.loans != nil && b.loans.take(to, cost):
		borrowed = true
	default:
		if err := spend(b.requests, cost, "requests"); err != nil {
			return false, err
		}
	}
	if err := spend(b.bytes, size, "bytes"); err != nil {
		return false, err
	}
	if err := spend(b.work, requestWork(req), "work"); err != nil {
		return false, err
	}
	if waited {
		p.waited.WithLabelValues(name).Inc()
	}
	return borrowed, nil
}

// settle records the outcome of a request of protocol name to p, and
// reports whether p refused it, so that the caller sends it once more
// within the paced share. A peer refuses by resetting the stream before
// it answers; any other failure (a deadline, a peer gone) is no refusal
// and is not sent again. A refusal halves p's loan and holds it.
//
// A borrowed request p answered grows the loan only if p says it lent it
// (lent). Otherwise p served it within this node's rate, where the paced
// share had no room: the share is charged for it (into debt if need be),
// so that it keeps mirroring p's count of this node's requests and
// requests within it are not refused. A peer that lends nothing (an
// older version, NoLending) so costs its probes and never grows a loan.
func (p *pacer) settle(name string, to peer.ID, req any, borrowed bool, err error, lent bool) (refused bool) {
	if p == nil {
		return false
	}
	b, ok := p.byProtocol[name]
	if !ok || b.loans == nil {
		return false
	}
	switch {
	case err == nil && borrowed && lent:
		b.loans.repaid(to)
		p.borrowed.WithLabelValues(name, metrics.OutcomeOK).Inc()
	case err == nil && borrowed:
		b.requests.Charge(to, requestCost(req))
	case errors.Is(err, network.ErrReset):
		b.loans.refused(to)
		if borrowed {
			p.borrowed.WithLabelValues(name, metrics.OutcomeRefused).Inc()
		}
		return true
	}
	return false
}

// backlog is how long a request of protocol name to p would wait now for
// p's rate: 0 while the budget has one left, and for a nil pacer.
func (p *pacer) backlog(name string, to peer.ID) time.Duration {
	if p == nil {
		return 0
	}
	b, ok := p.byProtocol[name]
	if !ok {
		return 0
	}
	if b.loans != nil && b.loans.available(to) {
		return 0
	}
	return b.requests.Delay(to, 1)
}

// requestCost is what req spends of a peer's request rate: one, and for a
// search, what its expanding terms cost.
func requestCost(req any) int {
	if r, ok := req.(*netsearch.Request); ok {
		return 1 + expandingExtra(r.Query)
	}
	return 1
}

// requestWork is the work req asks of a peer beyond the request: the
// signatures of a store request, the lookups of a sync request.
func requestWork(req any) int {
	switch r := req.(type) {
	case *storeRequest:
		return r.signed()
	case *syncRequest:
		_, work := r.lookups()
		return work
	}
	return 0
}
