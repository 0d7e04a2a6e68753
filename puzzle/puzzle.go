// Package puzzle is the price of an identity on a murmur network:
// S/Kademlia's static puzzle. A peer's place in the DHT's keyspace is the
// SHA-256 of its peer ID; a peer ID solves a puzzle of difficulty D when
// the SHA-256 of that place begins with D zero bits, as S/Kademlia hashes
// the node ID once more. Finding such an ID takes about 2^D key
// generations, and checking one takes two hashes, so a network whose
// members must solve it makes an attacker who wants many identities, or
// identities close to a chosen key, pay 2^D key generations for each.
//
// The second hash matters: a puzzle on the place itself would put every
// node in the 2^-D of the keyspace whose first D bits are zero, where the
// DHT's buckets and murmur's inference of whole regions from one lookup
// (both by common prefix length) no longer see an even spread; and the
// identities closest to a key would be no dearer than others.
package puzzle

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// DefaultDifficulty is the difficulty of a network that does not set one:
// 2^21 ed25519 key generations, about a minute on one core of the machine
// murmur is measured on (docs/benchmarks.md, BenchmarkTry).
const DefaultDifficulty = 21

// MaxDifficulty bounds the difficulty a node accepts: beyond it a new node
// would need days.
const MaxDifficulty = 40

// Bits returns the number of leading zero bits of the SHA-256 of id's
// place in the keyspace (the SHA-256 of id, as kad-dht computes it).
func Bits(id peer.ID) int {
	place := sha256.Sum256([]byte(id))
	sum := sha256.Sum256(place[:])
	n := 0
	for _, b := range sum {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}

// Solves reports whether id solves a puzzle of difficulty d.
func Solves(id peer.ID, d int) bool { return d <= 0 || Bits(id) >= d }

// Expected is the mean number of tries a puzzle of difficulty d takes.
func Expected(d int) float64 { return float64(uint64(1) << uint(max(d, 0))) }

// Progress is what Grind reports while it works.
type Progress struct {
	// Tries is the number of keys generated so far.
	Tries uint64
	// Expected is the mean number of tries the puzzle takes.
	Expected float64
	// Elapsed is the time since Grind began.
	Elapsed time.Duration
}

// Grind generates ed25519 keys until one's peer ID solves a puzzle of
// difficulty d, on workers goroutines (all cores when workers <= 0), and
// calls report about every interval with the progress (a nil report is
// never called). It stops early with the context's error.
func Grind(ctx context.Context, d, workers int, interval time.Duration, report func(Progress)) (crypto.PrivKey, error) {
	if d < 0 || d > MaxDifficulty {
		return nil, fmt.Errorf("identity difficulty %d is outside 0..%d", d, MaxDifficulty)
	}
	key, _, err := GrindUntil(ctx, func(id peer.ID) bool { return Solves(id, d) }, Expected(d), workers, interval, report)
	if err != nil {
		return nil, fmt.Errorf("find an identity of difficulty %d: %w", d, err)
	}
	return key, nil
}

// GrindUntil generates ed25519 keys on workers goroutines (all cores when
// workers <= 0) until accept takes one's peer ID, and calls report about
// every interval with the progress, expected being the mean number of
// tries accept takes (a nil report is never called). It stops early with
// the context's error. tries is how many keys it generated. Grind is
// GrindUntil for the identity puzzle; an attacker grinding for a place in
// the key space uses it too.
func GrindUntil(ctx context.Context, accept func(peer.ID) bool, expected float64, workers int, interval time.Duration, report func(Progress)) (key crypto.PrivKey, tries uint64, err error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	start := time.Now()
	var tried atomic.Uint64
	found := make(chan crypto.PrivKey, 1)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				key, id, err := newKey()
				if err != nil {
					errs <- err
					return
				}
				tried.Add(1)
				if accept(id) {
					select {
					case found <- key:
					default:
					}
					cancel()
					return
				}
			}
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
		tries = tried.Load()
	}()
	tick := time.NewTicker(max(interval, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case key := <-found:
			return key, 0, nil
		case err := <-errs:
			return nil, 0, err
		case <-ctx.Done():
			select {
			case key := <-found:
				return key, 0, nil
			default:
			}
			return nil, 0, context.Cause(ctx)
		case <-tick.C:
			if report != nil {
				report(Progress{Tries: tried.Load(), Expected: expected, Elapsed: time.Since(start)})
			}
		}
	}
}

// newKey generates one ed25519 key and its peer ID.
func newKey() (crypto.PrivKey, peer.ID, error) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("generate key: %w", err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, "", fmt.Errorf("peer ID of a new key: %w", err)
	}
	return key, id, nil
}

// Try generates one key and reports whether its peer ID solves a puzzle of
// difficulty d.
func Try(d int) (crypto.PrivKey, bool, error) {
	key, id, err := newKey()
	if err != nil {
		return nil, false, err
	}
	return key, Solves(id, d), nil
}
