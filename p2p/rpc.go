package p2p

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// call sends one request to p on proto and reads one response, within
// StreamTimeout (or ctx, whichever ends first).
func (s *Service) call(ctx context.Context, p peer.ID, proto protocol.ID, name string, req, resp any) error {
	ctx, cancel := context.WithTimeout(ctx, StreamTimeout)
	defer cancel()
	st, err := s.host.NewStream(ctx, p, proto)
	if err != nil {
		return fmt.Errorf("open %s stream to %s: %w", name, p, err)
	}
	deadline, _ := ctx.Deadline()
	_ = st.SetDeadline(deadline)
	n, err := writeMessage(st, req)
	s.countBytes(name, "out", n)
	if err != nil {
		st.Reset()
		return fmt.Errorf("send %s request to %s: %w", name, p, err)
	}
	if err := st.CloseWrite(); err != nil {
		st.Reset()
		return fmt.Errorf("send %s request to %s: %w", name, p, err)
	}
	n, err = readMessage(st, resp)
	s.countBytes(name, "in", n)
	if err != nil {
		st.Reset()
		return fmt.Errorf("read %s answer from %s: %w", name, p, err)
	}
	return st.Close()
}

// serve runs one inbound request: it enforces the peer's rate, the
// concurrency bound and the deadline, reads the request, and writes what
// handle returns. outcome records the result for metrics.
func (s *Service) serve(st network.Stream, name string, lim *peerLimiter, slots chan struct{}, req any, handle func(ctx context.Context, from peer.ID) (any, error), outcome func(string)) {
	from := st.Conn().RemotePeer()
	_ = st.Scope().SetService("murmur-" + name)
	_ = st.SetDeadline(time.Now().Add(StreamTimeout))
	if !lim.Allow(from) {
		outcome("rate_limited")
		st.Reset()
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, StreamTimeout)
	defer cancel()
	select {
	case slots <- struct{}{}:
		defer func() { <-slots }()
	case <-ctx.Done():
		outcome("error")
		st.Reset()
		return
	}
	n, err := readMessage(st, req)
	s.countBytes(name, "in", n)
	if err != nil {
		s.log.Debug("bad request", "protocol", name, "from", from, "err", err)
		outcome("rejected")
		st.Reset()
		return
	}
	resp, err := handle(ctx, from)
	if err != nil {
		s.log.Warn("request failed", "protocol", name, "from", from, "err", err)
		outcome("error")
		st.Reset()
		return
	}
	n, err = writeMessage(st, resp)
	s.countBytes(name, "out", n)
	if err != nil {
		outcome("error")
		st.Reset()
		return
	}
	outcome("ok")
	st.Close()
}

// countBytes feeds murmur_protocol_bytes_total.
func (s *Service) countBytes(protocol, direction string, n int) {
	if s.cfg.Metrics == nil || n <= 0 {
		return
	}
	if c := s.cfg.Metrics.ProtocolBytes; c != nil {
		c.WithLabelValues(protocol, direction).Add(float64(n))
	}
}
