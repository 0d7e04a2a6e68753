package p2p

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Streams that carry many requests. A libp2p stream costs more to open and
// close (yamux frames both ways, multistream negotiation, resource-manager
// scopes, a handler goroutine) than the search it carries: 0.21 ms of CPU
// an exchange against 0.08 ms on a stream already open (bench/floor_test.go).
// From SearchVersion 6 and StatsVersion 4 on, a stream of the search and
// stats protocols carries one request after another, each answered before
// the next is sent: the asker keeps its idle streams to each peer
// (streamPool) and the answerer serves a stream until it is idle for
// StreamIdleTimeout or has answered MaxRequestsPerStream requests.
// Every request is bounded, rated and refused as on a stream of its own
// (serveOne); a refusal resets the stream.

// streamPool keeps the idle outbound streams of the protocols whose streams
// carry many requests, per peer, most recently used last.
type streamPool struct {
	mu    sync.Mutex
	idle  map[poolKey][]*pooledStream
	count int // idle streams in all
	// opened and reused count the streams opened for, and the requests
	// sent on a kept stream by, protocols whose streams are kept.
	opened, reused atomic.Int64
}

// poolKey names the idle streams to one peer of one protocol.
type poolKey struct {
	peer  peer.ID
	proto protocol.ID
}

// pooledStream is an idle stream and what the pool knows of it.
type pooledStream struct {
	network.Stream
	// kept is whether the stream's protocol carries many requests and the
	// stream goes back to the pool after an answer; since is when it was
	// put back, requests how many answers it has carried.
	kept     bool
	since    time.Time
	requests int
}

func newStreamPool() *streamPool {
	return &streamPool{idle: map[poolKey][]*pooledStream{}}
}

// take returns the most recently used idle stream to p of the first of
// protos that has one, or nil. Streams idle for longer than PooledStreamMaxIdle are closed on
// the way: the answerer may be closing them.
func (sp *streamPool) take(p peer.ID, protos []protocol.ID) *pooledStream {
	found, stale := sp.takeLocked(p, protos)
	for _, ps := range stale {
		_ = ps.Close()
	}
	if found != nil {
		sp.reused.Add(1)
	}
	return found
}

// takeLocked finds take's stream, and the idle streams it passed that are
// to be closed.
func (sp *streamPool) takeLocked(p peer.ID, protos []protocol.ID) (found *pooledStream, stale []*pooledStream) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for _, proto := range protos {
		k := poolKey{p, proto}
		list := sp.idle[k]
		for len(list) > 0 && found == nil {
			ps := list[len(list)-1]
			list = list[:len(list)-1]
			sp.count--
			if time.Since(ps.since) <= PooledStreamMaxIdle {
				found = ps
			} else {
				stale = append(stale, ps)
			}
		}
		sp.setLocked(k, list)
		if found != nil {
			break
		}
	}
	return found, stale
}

// put keeps ps idle for p, unless it has carried its last request, p has
// PooledStreamsPerPeer idle of its protocol already or the pool
// PooledStreams; then it is closed.
func (sp *streamPool) put(p peer.ID, ps *pooledStream) {
	ps.since = time.Now()
	k := poolKey{p, ps.Protocol()}
	sp.mu.Lock()
	var stale []*pooledStream
	if sp.count >= PooledStreams {
		// Streams to peers not asked since are closed by their
		// answerers by now: make room.
		stale = sp.pruneLocked()
	}
	keep := ps.requests < MaxRequestsPerStream && len(sp.idle[k]) < PooledStreamsPerPeer && sp.count < PooledStreams
	if keep {
		sp.idle[k] = append(sp.idle[k], ps)
		sp.count++
	} else {
		stale = append(stale, ps)
	}
	sp.mu.Unlock()
	for _, st := range stale {
		_ = st.Close()
	}
}

// pruneLocked takes every stream idle for longer than PooledStreamMaxIdle
// out of the pool and returns them, to be closed.
func (sp *streamPool) pruneLocked() []*pooledStream {
	var stale []*pooledStream
	for k, list := range sp.idle {
		fresh := list[:0]
		for _, ps := range list {
			if time.Since(ps.since) > PooledStreamMaxIdle {
				stale = append(stale, ps)
			} else {
				fresh = append(fresh, ps)
			}
		}
		sp.setLocked(k, fresh)
	}
	sp.count -= len(stale)
	return stale
}

// setLocked makes list the idle streams of k, dropping k when it is empty.
func (sp *streamPool) setLocked(k poolKey, list []*pooledStream) {
	if len(list) == 0 {
		delete(sp.idle, k)
	} else {
		sp.idle[k] = list
	}
}

// closeAll closes every idle stream.
func (sp *streamPool) closeAll() {
	sp.mu.Lock()
	idle := sp.idle
	sp.idle, sp.count = map[poolKey][]*pooledStream{}, 0
	sp.mu.Unlock()
	for _, list := range idle {
		for _, ps := range list {
			_ = ps.Close()
		}
	}
}

// carriesMany reports whether the streams of protocol id carry one request
// after another: the search and stats protocols from SearchVersion and
// StatsVersion on.
func carriesMany(id protocol.ID) bool {
	name, version := protocolParts(id)
	return name == "search" && version == SearchVersion || name == "stats" && version == StatsVersion
}

// ResetStreams resets every open stream of the protocols ids on h, in
// either direction: a handler replaced while the host runs (by a test, or
// by the adversary tool's liars) then serves the next request, which a
// stream kept from before would have carried to the old one.
func ResetStreams(h host.Host, ids ...protocol.ID) {
	for _, c := range h.Network().Conns() {
		for _, st := range c.GetStreams() {
			if slices.Contains(ids, st.Protocol()) {
				_ = st.Reset()
			}
		}
	}
}
