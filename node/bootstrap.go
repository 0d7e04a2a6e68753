package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	madns "github.com/multiformats/go-multiaddr-dns"

	"github.com/murmur-p2p/murmur/p2p"
)

// defaultBootstrap is the bootstrap list compiled in, per network name: a
// node started without --bootstrap or --bootstrap-file joins its network
// through these (and through the peers it remembers, PeersFile).
//
// It is empty for every network: the project runs no public nodes yet, so
// a stranger's first node needs another node's address (its `murmur
// status` "addrs") or a node of the same network on its LAN (mDNS). To fill
// it, add full multiaddrs of long-lived nodes of the network, ending in
// /p2p/<peer ID>, or better /dnsaddr/<domain> names, whose DNS TXT records
// at _dnsaddr.<domain> ("dnsaddr=/ip4/.../tcp/4001/p2p/<peer ID>", one per
// node) can change without a release:
//
//	p2p.DefaultNetwork: {"/dnsaddr/bootstrap.murmur.example"},
//
// TestDefaultBootstrapParses checks every entry.
var defaultBootstrap = map[string][]string{}

// Bounds of the resolution of /dnsaddr bootstrap names.
const (
	// maxDNSAddrDepth bounds how many /dnsaddr names deep one name is
	// followed (bootstrap.libp2p.io's records name one more level).
	maxDNSAddrDepth = 4
	// maxResolvedAddrs bounds the addresses one name yields.
	maxResolvedAddrs = 64
	// resolveTimeout bounds the DNS lookups of one attempt to join.
	resolveTimeout = 10 * time.Second
)

// bootAddrs are bootstrap addresses as given: peers with their addresses,
// and /dnsaddr names, resolved at each attempt to join.
type bootAddrs struct {
	peers []peer.AddrInfo
	names []ma.Multiaddr
}

func (b bootAddrs) empty() bool { return len(b.peers) == 0 && len(b.names) == 0 }

// parseBootstrap parses bootstrap multiaddrs: each ends in /p2p/<peer ID>
// or starts with /dnsaddr/.
func parseBootstrap(addrs []string) (bootAddrs, error) {
	var b bootAddrs
	var full []string
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return bootAddrs{}, fmt.Errorf("address %q: %w", s, err)
		}
		if isDNSAddr(a) {
			b.names = append(b.names, a)
			continue
		}
		full = append(full, s)
	}
	peers, err := p2p.ParseAddrs(full)
	if err != nil {
		return bootAddrs{}, fmt.Errorf("%w (or start with /dnsaddr/<domain>)", err)
	}
	b.peers = peers
	return b, nil
}

// isDNSAddr reports whether a starts with a /dnsaddr name, which DNS TXT
// records turn into the addresses of peers. (/dns4 and /dns6 names, which
// name one host, are dialed as they are: libp2p resolves them.)
func isDNSAddr(a ma.Multiaddr) bool {
	first, _ := ma.SplitFirst(a)
	return first != nil && first.Protocol().Code == ma.P_DNSADDR
}

// resolve returns the peers of b: its addresses, then those its /dnsaddr
// names resolve to through r. A name that does not resolve is an error,
// joined to the others; the peers of the names that do are returned.
func (b bootAddrs) resolve(ctx context.Context, r *madns.Resolver) ([]peer.AddrInfo, error) {
	out := append([]peer.AddrInfo(nil), b.peers...)
	if len(b.names) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	var errs []error
	for _, name := range b.names {
		peers, err := resolveDNSAddr(ctx, r, name)
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, peers...)
	}
	return out, errors.Join(errs...)
}

// resolveDNSAddr resolves one /dnsaddr name into peers, following the names
// its records give up to maxDNSAddrDepth deep. Records without a /p2p/
// part, which say no peer, are skipped.
func resolveDNSAddr(ctx context.Context, r *madns.Resolver, name ma.Multiaddr) ([]peer.AddrInfo, error) {
	var found []ma.Multiaddr
	todo := []ma.Multiaddr{name}
	for depth := 0; len(todo) > 0 && depth < maxDNSAddrDepth && len(found) < maxResolvedAddrs; depth++ {
		var next []ma.Multiaddr
		for _, a := range todo {
			res, err := r.Resolve(ctx, a)
			if err != nil {
				return nil, fmt.Errorf("resolve %s: %w", name, err)
			}
			for _, ra := range res {
				switch {
				case isDNSAddr(ra):
					next = append(next, ra)
				case len(found) == maxResolvedAddrs:
				default:
					if _, err := peer.IDFromP2PAddr(ra); err == nil {
						found = append(found, ra)
					}
				}
			}
		}
		todo = next
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("resolve %s: found no peer (TXT records \"dnsaddr=<multiaddr ending in /p2p/<peer ID>>\" at _dnsaddr.<domain>, followed %d names deep)", name, maxDNSAddrDepth)
	}
	peers, err := peer.AddrInfosFromP2pAddrs(found...)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", name, err)
	}
	return peers, nil
}
