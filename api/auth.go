package api

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// AuthMode says which requests from other machines need the API token.
// Requests from the node's own machine (loopback) never do.
type AuthMode string

// The modes of --api-auth.
const (
	// AuthWrites asks the token of every request that changes state
	// (anything but GET, HEAD and OPTIONS): the default.
	AuthWrites AuthMode = "writes"
	// AuthAll asks it of reads too: searches, the web page and /metrics.
	AuthAll AuthMode = "all"
)

// ParseAuthMode parses the value of --api-auth; empty means AuthWrites.
func ParseAuthMode(s string) (AuthMode, error) {
	switch m := AuthMode(s); m {
	case "":
		return AuthWrites, nil
	case AuthWrites, AuthAll:
		return m, nil
	}
	return "", fmt.Errorf("API auth %q is unknown; use %s (the token for changes from other machines) or %s (for reads too)", s, AuthWrites, AuthAll)
}

// ParseHostName checks a value of --api-host, NAME or NAME:PORT, and returns
// the name (lower case, without a final dot) and the port (empty: any).
func ParseHostName(s string) (name, port string, err error) {
	name = s
	if h, p, err := net.SplitHostPort(s); err == nil {
		name, port = h, p
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	bad := name == "" || strings.ContainsAny(name, "/@?#[] ") || strings.Contains(name, "://")
	if port != "" {
		if n, err := netip.ParseAddrPort("0.0.0.0:" + port); err != nil || n.Port() == 0 {
			bad = true
		}
	}
	if bad {
		return "", "", fmt.Errorf("API host %q is not a host name, or NAME:PORT (e.g. murmur.example.org or node1:7070)", s)
	}
	return name, port, nil
}

// CallerOf names the client of r for the node's fair share of searches:
// its address without the port.
func CallerOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
