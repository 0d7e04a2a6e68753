package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-msgio"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/murmur-p2p/murmur/internal/gate"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/puzzle"
)

// call sends one request to p on proto and reads one response, within
// StreamTimeout (or ctx, whichever ends first). The request waits for p's
// rate (pacer.wait), or borrows p's spare capacity; a request p refuses
// (pacer.settle) is sent once more within p's rate.
//
// protos are the protocol IDs to ask in, the preferred first: p answers
// in the first it serves, and the request is sent in that one's codec.
func (s *Service) call(ctx context.Context, p peer.ID, protos []protocol.ID, name string, req, resp any) error {
	_, err := s.timedCall(ctx, p, protos, name, req, resp)
	return err
}

// timedCall is call that also returns the round trip of the exchange that
// answered: from opening its stream to reading the answer, without the
// wait for p's rate.
func (s *Service) timedCall(ctx context.Context, p peer.ID, protos []protocol.ID, name string, req, resp any) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, StreamTimeout)
	defer cancel()
	body, err := encodeWith(codecFor(protos[0]), req)
	if err != nil {
		return 0, fmt.Errorf("%s request to %s: %w", name, p, err)
	}
	borrowed, err := s.pace.wait(ctx, name, p, req, len(body), true)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	err = s.send(ctx, p, protos, name, req, body, resp)
	rtt := time.Since(start)
	m, _ := resp.(lentMarker)
	if !s.pace.settle(name, p, req, borrowed, err, m != nil && m.WasLent()) {
		return rtt, err
	}
	if _, err := s.pace.wait(ctx, name, p, req, len(body), false); err != nil {
		return 0, err
	}
	start = time.Now()
	err = s.send(ctx, p, protos, name, req, body, resp)
	return time.Since(start), err
}

// send writes req to p on a stream of the first of protos p serves and
// reads one response into resp, within ctx. body is req encoded in the
// codec of protos[0], which the stream's codec most often is. A protocol
// whose streams carry many requests (carriesMany) is sent on a stream
// kept from before when there is one, and the stream is kept again after
// the answer; any other is sent on a new stream, closed after.
func (s *Service) send(ctx context.Context, p peer.ID, protos []protocol.ID, name string, req any, body []byte, resp any) error {
	bodyCodec := codecFor(protos[0])
	if carriesMany(protos[0]) {
		if kept := s.streams.take(p, protos); kept != nil {
			err := s.exchange(ctx, kept, p, name, req, body, bodyCodec, resp)
			if err == nil || !errors.Is(err, errStaleStream) {
				return err
			}
			// The answerer ended the kept stream before it read the
			// request (idle, or restarted): ask on a new one.
		}
	}
	st, err := s.host.NewStream(ctx, p, protos...)
	if err != nil {
		return fmt.Errorf("open %s stream to %s: %w", name, p, err)
	}
	kept := carriesMany(st.Protocol())
	if kept {
		s.streams.opened.Add(1)
	}
	return s.exchange(ctx, &pooledStream{Stream: st, kept: kept}, p, name, req, body, bodyCodec, resp)
}

// errStaleStream is a kept stream's failure before its answerer read the
// request: the write failed, or the answerer had closed the stream (not
// reset it, as it does to refuse a request). The request may be sent
// again on a new stream.
var errStaleStream = errors.New("the kept stream was ended by its answerer")

// exchange writes req, encoded as body in codec bodyCodec, on ps and
// reads one response into resp. A stream that carries one request is
// closed for writing after it, and closed after the answer; a kept one is
// kept again (streamPool.put). A stream that fails is reset.
func (s *Service) exchange(ctx context.Context, ps *pooledStream, p peer.ID, name string, req any, body []byte, bodyCodec codec, resp any) error {
	st := ps.Stream
	deadline, _ := ctx.Deadline()
	_ = st.SetDeadline(deadline)
	if c := streamCodec(st); c != bodyCodec {
		var err error
		if body, err = encodeWith(c, req); err != nil {
			st.Reset()
			return fmt.Errorf("%s request to %s: %w", name, p, err)
		}
	}
	stale := func(err error) error {
		if ps.requests > 0 {
			// A stream that carried requests before: the answerer
			// may have ended it since.
			return fmt.Errorf("%w: %w", errStaleStream, err)
		}
		return err
	}
	n, err := writeBody(st, body)
	s.countBytes(name, "out", n)
	if err != nil {
		st.Reset()
		return fmt.Errorf("send %s request to %s: %w", name, p, stale(err))
	}
	if !ps.kept {
		if err := st.CloseWrite(); err != nil {
			st.Reset()
			return fmt.Errorf("send %s request to %s: %w", name, p, err)
		}
	}
	n, err = readMessage(st, resp)
	s.countBytes(name, "in", n)
	if err != nil {
		st.Reset()
		if n == 0 && errors.Is(err, io.EOF) {
			err = stale(err)
		}
		return fmt.Errorf("read %s answer from %s: %w", name, p, err)
	}
	if !ps.kept {
		return st.Close()
	}
	ps.requests++
	_ = st.SetDeadline(time.Time{})
	s.streams.put(p, ps)
	return nil
}

// inbound holds the bounds of one protocol's inbound requests: each
// protocol has its own, so that a flood of one kind never starves another.
type inbound struct {
	// name is the protocol's metrics label (metrics.Protocol*).
	name string
	// rate bounds the requests of each peer per second, bytes their size:
	// a request is read, and its JSON decoded, only within both.
	rate, bytes *peerLimiter
	// slots bounds the requests handled at once: in all, and half of them
	// for any one peer, so that no peer takes every slot.
	slots *gate.Gate
	// spare, where the protocol lends its idle capacity, bounds the
	// requests served beyond their peers' rate, all peers together.
	spare *rate.Limiter
	// lent counts the requests served from spare.
	lent prometheus.Counter
	// outcome, if set, feeds the protocol's own outcome counter.
	outcome func(string)
}

func newInbound(name string, perSecond float64, burst int, bytesPerSecond float64, slots int, outcome func(string)) *inbound {
	return &inbound{
		name:    name,
		rate:    newPeerLimiter(perSecond, burst),
		bytes:   newPeerLimiter(bytesPerSecond, PeerBytesBurst),
		slots:   gate.New(slots, max(1, slots/2)),
		outcome: outcome,
	}
}

// lendable makes the protocol serve requests beyond their peer's rate
// from spare capacity: perSecond and burst of them, all peers together.
func (in *inbound) lendable(perSecond float64, burst int, lent prometheus.Counter) {
	in.spare = rate.NewLimiter(rate.Limit(perSecond), burst)
	in.lent = lent
}

// lend reports whether a request is served from spare capacity, without
// spending its peer's rate: only while fewer than half the protocol's
// slots are busy, so that a peer within its rate always finds half of them
// free of lent work, and within the spare rate of all peers together. An
// idle owner so serves a busy querier beyond its rate, and keeps each
// peer's rate whole for when it is busy. The answer says it was lent
// (lentMarker), so a borrowing querier (see loans) grows its loan.
func (in *inbound) lend() bool {
	if in.spare == nil || in.slots.InUse() >= in.slots.Size()/2 || !in.spare.Allow() {
		return false
	}
	in.lent.Inc()
	return true
}

// lentMarker is an answer that can say it was lent (served beyond the
// querier's rate from spare capacity), and say so to the querier.
type lentMarker interface {
	MarkLent()
	WasLent() bool
}

// refusal is an error a handler returns to refuse a request for a reason
// the node counts (metrics.Refused*).
type refusal struct {
	reason string
	err    error
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

func refuse(reason string, format string, args ...any) error {
	return &refusal{reason: reason, err: fmt.Errorf(format, args...)}
}

var (
	errNoMemory  = errors.New("the resource manager refused the memory for the request")
	errOverBytes = errors.New("the peer sent more bytes of this protocol than its rate allows")
)

// handler answers one inbound request, decoded already, from a peer.
type handler func(ctx context.Context, from peer.ID) (any, error)

// serve runs one inbound request on st, and closes st after the answer.
func (s *Service) serve(st network.Stream, in *inbound, req any, handle handler) {
	if s.serveOne(st, in, msgio.NewVarintReaderSize(st, MaxMessageSize), req, handle) {
		_ = st.Close()
	}
}

// serveStream serves st: one request, or, where its protocol's streams
// carry many (carriesMany), one after another until the asker closes the
// stream, sends none for StreamIdleTimeout, or has had
// MaxRequestsPerStream answered; then it closes st. next gives each
// request's value to decode into and its handler. Each request is served
// as one on a stream of its own (serveOne): read within
// RequestReadTimeout once it has begun, and bounded by its peer's rates
// and the protocol's slots; a refusal resets the stream.
func (s *Service) serveStream(st network.Stream, in *inbound, next func() (any, handler)) {
	req, handle := next()
	if !carriesMany(st.Protocol()) {
		s.serve(st, in, req, handle)
		return
	}
	for i := 1; ; i++ {
		rd := msgio.NewVarintReaderSize(st, MaxMessageSize)
		if i > 1 {
			// Wait for the next request; an asker that closed the
			// stream, or let it idle, is no offender.
			_ = st.SetDeadline(time.Now().Add(StreamIdleTimeout))
			if _, err := rd.NextMsgLen(); err != nil {
				_ = st.Close()
				return
			}
		}
		if !s.serveOne(st, in, rd, req, handle) {
			return
		}
		if i == MaxRequestsPerStream {
			_ = st.Close()
			return
		}
		req, handle = next()
	}
}

// serveOne runs one inbound request on st, read with rd. The request must
// arrive whole within RequestReadTimeout, with its memory reserved in the
// stream's scope, before it takes one of the protocol's slots: a peer that
// opens streams and sends nothing holds no slot, only a stream the
// resource manager bounds, for a few seconds. Then the handler runs under
// the protocol's deadline and its answer is written. It reports whether
// it answered; it resets st when it did not.
func (s *Service) serveOne(st network.Stream, in *inbound, rd msgio.Reader, req any, handle handler) bool {
	if !s.startHandling() {
		st.Reset()
		return false
	}
	defer s.handling.Done()
	from := st.Conn().RemotePeer()
	_ = st.Scope().SetService(ServiceName(in.name))
	// fail ends the request unanswered; a refusal (reason set) is
	// counted and logged, with err when there is one.
	fail := func(outcome, reason string, err error) {
		if in.outcome != nil {
			in.outcome(outcome)
		}
		if reason != "" {
			s.countRefused(in.name, reason)
			s.log.Debug("request refused", "protocol", in.name, "from", from, "reason", reason, "err", err)
		}
		st.Reset()
		// The node's own load (busy, memory) is no offence of the peer's.
		if reason != "" && reason != metrics.RefusedBusy && reason != metrics.RefusedMemory && s.offenders.offend(from) {
			s.log.Info("cut off a peer whose requests keep being refused", "peer", from, "for", BanDuration, "last", reason)
			s.countRefused(metrics.ProtocolConn, metrics.RefusedBanned)
			s.host.Network().ClosePeer(from)
		}
	}
	if !puzzle.Solves(from, s.cfg.IDDifficulty) {
		// The connection gater refuses such peers; this holds should
		// one come another way (a gater of a tool's own).
		fail(metrics.OutcomeRejected, metrics.RefusedIdentity, nil)
		return false
	}
	// An idle owner serves from its spare capacity first, and keeps the
	// peer's own rate for when it is busy (lend).
	lent := in.lend()
	if !lent && !in.rate.Allow(from) {
		fail(metrics.OutcomeRateLimited, metrics.RefusedRateLimited, nil)
		return false
	}
	_ = st.SetReadDeadline(time.Now().Add(RequestReadTimeout))
	n, releaseMemory, err := readRequest(st, rd, req, func(size int) error {
		if !in.bytes.AllowN(from, size) {
			return errOverBytes
		}
		return nil
	})
	defer releaseMemory()
	s.countBytes(in.name, "in", n)
	if err != nil {
		fail(metrics.OutcomeRejected, requestErrorReason(err), err)
		return false
	}
	releaseSlot, err := in.slots.Enter(s.ctx, string(from), SlotWait)
	if err != nil {
		reason := metrics.RefusedBusy
		if s.ctx.Err() != nil {
			reason = ""
		}
		fail(metrics.OutcomeError, reason, err)
		return false
	}
	defer releaseSlot()
	ctx, cancel := context.WithTimeout(s.ctx, StreamTimeout)
	defer cancel()
	_ = st.SetDeadline(time.Now().Add(StreamTimeout))
	resp, err := handle(ctx, from)
	if m, ok := resp.(lentMarker); ok && lent && err == nil {
		m.MarkLent()
	}
	if err != nil {
		var r *refusal
		if errors.As(err, &r) {
			fail(metrics.OutcomeRejected, r.reason, err)
			return false
		}
		s.log.Warn("request failed", "protocol", in.name, "from", from, "err", err)
		fail(metrics.OutcomeError, "", nil)
		return false
	}
	n, err = writeMessage(st, resp)
	s.countBytes(in.name, "out", n)
	if err != nil {
		fail(metrics.OutcomeError, "", nil)
		return false
	}
	if in.outcome != nil {
		in.outcome(metrics.OutcomeOK)
	}
	return true
}

// startHandling counts an inbound request in flight, which Close waits
// for; false once the service is closing, when the request is not taken.
func (s *Service) startHandling() bool {
	s.handlingMu.RLock()
	defer s.handlingMu.RUnlock()
	if s.closing {
		return false
	}
	s.handling.Add(1)
	return true
}

// readRequest reads one request from st with rd (which may have read its
// length already) like readMessage, once admit accepts its
// size and after reserving it in the stream's resource scope, so that the
// resource manager's memory limits of the service and the peer bound what
// requests in flight hold. The caller calls release when done with the
// request.
func readRequest(st network.Stream, rd msgio.Reader, v any, admit func(size int) error) (n int, release func(), err error) {
	release = func() {}
	size, err := rd.NextMsgLen()
	if err != nil {
		return 0, release, fmt.Errorf("read message: %w", err)
	}
	if size > MaxMessageSize {
		return 0, release, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, size, MaxMessageSize)
	}
	if err := admit(size); err != nil {
		return 0, release, err
	}
	if err := st.Scope().ReserveMemory(size, network.ReservationPriorityMedium); err != nil {
		return 0, release, fmt.Errorf("%w: %d bytes: %v", errNoMemory, size, err)
	}
	release = func() { st.Scope().ReleaseMemory(size) }
	body, err := rd.ReadMsg()
	if err != nil {
		return 0, release, fmt.Errorf("read message: %w", err)
	}
	defer rd.ReleaseMsg(body)
	return len(body), release, decodeWith(streamCodec(st), body, v)
}

// requestErrorReason names why a request could not be read.
func requestErrorReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, ErrMessageTooLarge):
		return metrics.RefusedTooLarge
	case errors.Is(err, errNoMemory):
		return metrics.RefusedMemory
	case errors.Is(err, errOverBytes):
		return metrics.RefusedRateLimited
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return metrics.RefusedSlowRequest
	default:
		return metrics.RefusedMalformed
	}
}

// ServiceName is the resource-manager service of a murmur protocol, as its
// streams are accounted and limited (see resourceLimits).
func ServiceName(protocol string) string { return "murmur-" + protocol }

// countBytes feeds murmur_protocol_bytes_total, and counts one message
// of n bytes in murmur_protocol_messages_total.
func (s *Service) countBytes(protocol, direction string, n int) {
	if n > 0 {
		s.metrics.protocolBytes.WithLabelValues(protocol, direction).Add(float64(n))
		s.metrics.protocolMessages.WithLabelValues(protocol, direction).Inc()
	}
}

// countRefused feeds murmur_refused_total.
func (s *Service) countRefused(protocol, reason string) {
	s.countRefusedN(protocol, reason, 1)
}

func (s *Service) countRefusedN(protocol, reason string, n int) {
	if n > 0 {
		s.metrics.refused.WithLabelValues(protocol, reason).Add(float64(n))
	}
}
