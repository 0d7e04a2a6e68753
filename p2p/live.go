package p2p

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-msgio"

	"github.com/murmur-p2p/murmur/live"
	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/puzzle"
)

// Bounds of the live protocol.
const (
	// PeerSubscribeRate and PeerSubscribeBurst bound the standing searches
	// a peer may open per second.
	PeerSubscribeRate  = 2
	PeerSubscribeBurst = 40
	// pushWriteTimeout bounds writing one push to a subscriber.
	pushWriteTimeout = 10 * time.Second
)

// LiveProtocol is the ID of the protocol of standing searches: the
// subscriber opens a stream and sends a live.Request; the owner answers
// live.Accepted, then writes a live.Push for each match and a heartbeat
// when idle, until the lease ends.
func LiveProtocol(network string) protocol.ID {
	return protocol.ID(fmt.Sprintf("/murmur/%s/live/%s", network, ProtocolVersion))
}

// Live returns the standing searches this node keeps as an owner.
func (s *Service) Live() *live.Registry { return s.live }

// Offer hands posts this node has just stored to the standing searches it
// keeps (live.Registry.Offer).
func (s *Service) Offer(posts ...*post.Post) { s.live.Offer(posts...) }

func (s *Service) handleLive(st network.Stream) {
	if !s.startHandling() {
		st.Reset()
		return
	}
	defer s.handling.Done()
	from := st.Conn().RemotePeer()
	_ = st.Scope().SetService(ServiceName(metrics.ProtocolLive))
	refused := func(reason string, err error) {
		s.countRefused(metrics.ProtocolLive, reason)
		s.log.Debug("standing search refused", "from", from, "reason", reason, "err", err)
		if err != nil && reason != metrics.RefusedSlowRequest && reason != metrics.RefusedMalformed {
			// Say why, so the subscriber does not ask again at once.
			_ = st.SetWriteDeadline(time.Now().Add(pushWriteTimeout))
			if _, werr := writeMessage(st, live.Accepted{Error: err.Error()}); werr == nil {
				st.Close()
				return
			}
		}
		st.Reset()
	}
	if !puzzle.Solves(from, s.cfg.IDDifficulty) {
		refused(metrics.RefusedIdentity, nil)
		return
	}
	if !s.liveIn.rate.Allow(from) {
		refused(metrics.RefusedRateLimited, errors.New("too many standing searches a second"))
		return
	}
	_ = st.SetReadDeadline(time.Now().Add(RequestReadTimeout))
	var req live.Request
	n, release, err := readRequest(st, msgio.NewVarintReaderSize(st, MaxMessageSize), &req, func(size int) error {
		if !s.liveIn.bytes.AllowN(from, size) {
			return errOverBytes
		}
		return nil
	})
	release() // the request is decoded: its bytes are not held
	s.countBytes(metrics.ProtocolLive, metrics.DirectionIn, n)
	if err != nil {
		refused(requestErrorReason(err), nil)
		return
	}
	p, key, err := req.Prepare()
	if err != nil {
		refused(metrics.RefusedMalformed, err)
		return
	}
	s.owners.refresh()
	if !s.owners.mayOwn(key.String(), s.cfg.Replicas+OwnerMargin) {
		refused(metrics.RefusedNotOwner, fmt.Errorf("this node does not own %s", key))
		return
	}
	sub, err := s.live.Add(from.String(), key.String(), p.Expr)
	if err != nil {
		refused(metrics.RefusedBusy, err)
		return
	}
	defer s.live.Remove(sub)
	s.metrics.liveSubs.Inc()
	defer s.metrics.liveSubs.Dec()
	write := func(v any) bool {
		_ = st.SetWriteDeadline(time.Now().Add(pushWriteTimeout))
		n, err := writeMessage(st, v)
		s.countBytes(metrics.ProtocolLive, metrics.DirectionOut, n)
		return err == nil
	}
	_ = st.SetReadDeadline(time.Time{})
	if !write(live.Accepted{LeaseSeconds: int(live.Lease / time.Second)}) {
		st.Reset()
		return
	}
	lease := time.NewTimer(live.Lease)
	defer lease.Stop()
	beat := time.NewTicker(live.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-s.ctx.Done():
			st.Reset()
			return
		case <-lease.C:
			st.Close()
			return
		case <-beat.C:
			if !write(live.Push{}) {
				st.Reset()
				return
			}
		case raw := <-sub.Pushes:
			if !write(live.Push{Post: raw}) {
				st.Reset()
				return
			}
			s.metrics.livePushes.Inc()
			beat.Reset(live.Heartbeat)
		}
	}
}

// Subscribe keeps req standing at p (live.Transport): it returns when the
// owner ends the stream, the stream fails or ctx ends. Standing searches
// of keys this node owns itself are kept in its own registry.
func (s *Service) Subscribe(ctx context.Context, p peer.ID, req live.Request, accepted func(), push func(json.RawMessage)) error {
	if p == s.self {
		return s.subscribeSelf(ctx, req, accepted, push)
	}
	body, err := encodeMessage(&req)
	if err != nil {
		return fmt.Errorf("standing search for %s: %w", p, err)
	}
	octx, cancel := context.WithTimeout(ctx, StreamTimeout)
	if _, err := s.pace.wait(octx, metrics.ProtocolLive, p, &req, len(body), false); err != nil {
		cancel()
		return err
	}
	st, err := s.host.NewStream(octx, p, LiveProtocol(s.cfg.Network))
	cancel()
	if err != nil {
		return fmt.Errorf("open live stream to %s: %w", p, err)
	}
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	_ = st.SetDeadline(time.Now().Add(StreamTimeout))
	n, err := writeBody(st, body)
	s.countBytes(metrics.ProtocolLive, metrics.DirectionOut, n)
	if err == nil {
		err = st.CloseWrite()
	}
	if err != nil {
		st.Reset()
		return fmt.Errorf("send standing search to %s: %w", p, err)
	}
	var acc live.Accepted
	n, err = readMessage(st, &acc)
	s.countBytes(metrics.ProtocolLive, metrics.DirectionIn, n)
	if err != nil {
		st.Reset()
		return fmt.Errorf("read answer to standing search from %s: %w", p, err)
	}
	if acc.Error != "" {
		st.Close()
		return fmt.Errorf("%s refused the standing search: %s", p, acc.Error)
	}
	accepted()
	for {
		// An owner writes at least every heartbeat: one silent for two is
		// gone.
		_ = st.SetReadDeadline(time.Now().Add(2*live.Heartbeat + 5*time.Second))
		var m live.Push
		n, err := readMessage(st, &m)
		s.countBytes(metrics.ProtocolLive, metrics.DirectionIn, n)
		if err != nil {
			st.Reset()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("standing search at %s: %w", p, err)
		}
		if len(m.Post) > 0 {
			push(m.Post)
		}
	}
}

// subscribeSelf keeps req in this node's own registry until ctx ends or
// the lease is over, as a remote owner would.
func (s *Service) subscribeSelf(ctx context.Context, req live.Request, accepted func(), push func(json.RawMessage)) error {
	p, key, err := req.Prepare()
	if err != nil {
		return err
	}
	sub, err := s.live.Add(s.self.String(), key.String(), p.Expr)
	if err != nil {
		return err
	}
	defer s.live.Remove(sub)
	accepted()
	lease := time.NewTimer(live.Lease)
	defer lease.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.ctx.Done():
			return s.ctx.Err()
		case <-lease.C:
			return nil
		case raw := <-sub.Pushes:
			push(raw)
		}
	}
}
