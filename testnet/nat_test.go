package testnet_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/internal/testenv"
	"github.com/murmur-p2p/murmur/p2p"
	"github.com/murmur-p2p/murmur/testnet"
)

// TestHomeNodesBehindNAT runs murmur node processes in Linux network
// namespaces the test creates: a "public" segment with three nodes, and two
// homes, each behind a router namespace that masquerades (NAT) and has no
// inbound route. Addresses are from 198.18.0.0/15: 198.18.1.0/24 and
// 198.18.2.0/24 between the public segment and the routers, 198.19.N.0/24
// behind router N. libp2p's AutoNAT does not judge such addresses, so the
// nodes' dial-back check does.
//
// Each home node finds itself unreachable, runs the DHT as a client, posts
// (its post is found from every public node) and finds posts written on the
// public segment; no public node names it in its routing table. It holds a
// relay reservation, and the second home node reaches it through the
// relay; the test says whether the connection stayed relayed or was
// hole-punched to a direct one.
func TestHomeNodesBehindNAT(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes in network namespaces for a minute or two; skipped with -short")
	}
	lab := newNATLab(t)
	bin := testnet.Binary(t)
	name := "nat-" + lab.prefix

	// The public segment: node 0, then two nodes joined through it.
	pub := []*nsNode{lab.start(t, bin, name, lab.pub, 0, nil)}
	boot0 := pub[0].addrOn(t, "198.18.1.1")
	for i := 1; i < 3; i++ {
		pub = append(pub, lab.start(t, bin, name, lab.pub, i, []string{"--bootstrap", boot0}))
	}
	for _, nd := range pub {
		nd.waitStatus(t, "reachable, a DHT server", 90*time.Second, func(s api.Status) bool {
			return s.Reachability == p2p.ReachabilityPublic && s.DHTMode == p2p.DHTModeServer && s.RoutingTable == 2
		})
	}

	// A home behind router 1.
	home1 := lab.start(t, bin, name, lab.homes[0], 0, []string{"--bootstrap", boot0, "--relay", boot0})
	home1.waitStatus(t, "unreachable, a DHT client", 90*time.Second, func(s api.Status) bool {
		return s.Reachability == p2p.ReachabilityPrivate && s.DHTMode == p2p.DHTModeClient
	})
	id := strings.TrimSpace(home1.cli(t, "post", "kingfisher on the mill race, seen from home"))
	for _, nd := range pub {
		nd.waitFor(t, "the home node's post found", time.Minute, func() bool { return slices.Contains(nd.search(t, "kingfisher"), id) })
	}
	otter := strings.TrimSpace(pub[1].cli(t, "post", "otter tracks under the footbridge"))
	home1.waitFor(t, "a public node's post found from home", time.Minute, func() bool { return slices.Contains(home1.search(t, "otter"), otter) })
	for _, nd := range pub {
		if st := nd.status(t); st.RoutingTable != 2 {
			t.Errorf("public node %s has %d peers in its routing table, want the 2 other public nodes (a home node must not enter it)", nd.name, st.RoutingTable)
		}
	}

	// A relay reservation, and a second home node that reaches the first
	// through it. (libp2p advertises relay addresses built on public
	// addresses only, so the test builds the circuit address from the
	// relay's address on the second router's segment.)
	home1ID := home1.status(t).PeerID
	var relay *nsNode
	poll.Until(t, "a public node holding the home node's relay reservation", 2*time.Minute, 250*time.Millisecond, func() bool {
		for _, nd := range pub {
			if st := nd.status(t); st.Relay.On && st.Relay.Reservations > 0 {
				relay = nd
				return true
			}
		}
		return false
	})
	relayAddr := relay.addrOn(t, "198.18.2.1") + "/p2p-circuit/p2p/" + home1ID
	home2 := lab.start(t, bin, name, lab.homes[1], 0, []string{"--bootstrap", pub[0].addrOn(t, "198.18.2.1"), "--bootstrap", relayAddr})
	var how string
	home2.waitStatus(t, "connected to the other home node", 2*time.Minute, func(s api.Status) bool {
		if !slices.Contains(s.PeerIDs, home1ID) {
			return false
		}
		how = "through the relay (no hole punch succeeded)"
		if !slices.Contains(s.RelayedPeers, home1ID) {
			how = "directly: the hole punch succeeded"
		}
		return true
	})
	st := home2.status(t)
	t.Logf("home node 2 reached home node 1 %s; hole punches at home 2: %v, at home 1: %v; through %s",
		how, st.HolePunches, home1.status(t).HolePunches, relayAddr)
}

// natLab is a set of network namespaces: a public segment and two homes
// behind masquerading routers.
type natLab struct {
	dir    string
	prefix string
	pub    string
	homes  []string
	nodes  []*nsNode
	mu     sync.Mutex
}

func newNATLab(t *testing.T) *natLab {
	t.Helper()
	ok := runtime.GOOS == "linux" && os.Geteuid() == 0
	testenv.Need(t, ok, "root on Linux, to create network namespaces", "run the test as root (CI does)")
	for _, tool := range []string{"ip", "iptables"} {
		_, err := exec.LookPath(tool)
		testenv.Need(t, err == nil, tool, "apt-get install iproute2 iptables")
	}
	var b [3]byte
	rand.Read(b[:])
	// The nodes' directories outlive lab.close, which shows their logs.
	lab := &natLab{prefix: "m" + hex.EncodeToString(b[:]), dir: t.TempDir()}
	lab.pub = lab.prefix + "p"
	t.Cleanup(func() { lab.close(t) })
	ns := func(n string) string {
		run(t, "ip", "netns", "add", n)
		run(t, "ip", "-n", n, "link", "set", "lo", "up")
		return n
	}
	ns(lab.pub)
	for i := 1; i <= 2; i++ {
		router, home := ns(fmt.Sprintf("%sr%d", lab.prefix, i)), ns(fmt.Sprintf("%sh%d", lab.prefix, i))
		lab.homes = append(lab.homes, home)
		wanPub, wan := fmt.Sprintf("%sw%da", lab.prefix, i), fmt.Sprintf("%sw%db", lab.prefix, i)
		lanRouter, lanHome := fmt.Sprintf("%sl%da", lab.prefix, i), fmt.Sprintf("%sl%db", lab.prefix, i)
		// Public segment <-> router's WAN side.
		run(t, "ip", "link", "add", wanPub, "netns", lab.pub, "type", "veth", "peer", "name", wan, "netns", router)
		run(t, "ip", "-n", lab.pub, "addr", "add", fmt.Sprintf("198.18.%d.1/24", i), "dev", wanPub)
		run(t, "ip", "-n", lab.pub, "link", "set", wanPub, "up")
		run(t, "ip", "-n", router, "addr", "add", fmt.Sprintf("198.18.%d.2/24", i), "dev", wan)
		run(t, "ip", "-n", router, "link", "set", wan, "up")
		run(t, "ip", "-n", router, "route", "add", "default", "via", fmt.Sprintf("198.18.%d.1", i))
		// Router's LAN side <-> home.
		run(t, "ip", "link", "add", lanRouter, "netns", router, "type", "veth", "peer", "name", lanHome, "netns", home)
		run(t, "ip", "-n", router, "addr", "add", fmt.Sprintf("198.19.%d.1/24", i), "dev", lanRouter)
		run(t, "ip", "-n", router, "link", "set", lanRouter, "up")
		run(t, "ip", "-n", home, "addr", "add", fmt.Sprintf("198.19.%d.2/24", i), "dev", lanHome)
		run(t, "ip", "-n", home, "link", "set", lanHome, "up")
		run(t, "ip", "-n", home, "route", "add", "default", "via", fmt.Sprintf("198.19.%d.1", i))
		// The NAT: forward, masquerade what leaves by the WAN side, and
		// nothing comes in that the home did not start.
		run(t, "ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		run(t, "ip", "netns", "exec", router, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", wan, "-j", "MASQUERADE")
		run(t, "ip", "netns", "exec", router, "iptables", "-A", "FORWARD", "-i", wan, "-m", "conntrack", "!", "--ctstate", "ESTABLISHED,RELATED", "-j", "DROP")
	}
	return lab
}

func (lab *natLab) close(t *testing.T) {
	lab.mu.Lock()
	nodes := lab.nodes
	lab.mu.Unlock()
	for _, nd := range nodes {
		nd.kill()
		if t.Failed() {
			t.Logf("log of %s (last lines):\n%s", nd.name, nd.logTail(40))
		}
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if n, _, _ := strings.Cut(line, " "); strings.HasPrefix(n, lab.prefix) {
			_ = exec.Command("ip", "netns", "del", n).Run()
		}
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// nsNode is a murmur node process in a network namespace, driven through
// the CLI run in the same namespace (its API listens on the namespace's
// loopback).
type nsNode struct {
	name, ns, bin, api, data, log string
	cmd                           *exec.Cmd
	done                          chan struct{}
}

// start starts node i of namespace ns: TCP port 4001+i, API port 7101+i.
func (lab *natLab) start(t *testing.T, bin, network, ns string, i int, extra []string) *nsNode {
	t.Helper()
	dir, err := os.MkdirTemp(lab.dir, "node")
	if err != nil {
		t.Fatal(err)
	}
	nd := &nsNode{name: fmt.Sprintf("%s/%d", ns, i), ns: ns, bin: bin, api: fmt.Sprintf("127.0.0.1:%d", 7101+i),
		data: filepath.Join(dir, "data"), log: filepath.Join(dir, "node.log"), done: make(chan struct{})}
	args := append([]string{"netns", "exec", ns, bin, "node", "--data", nd.data, "--api", nd.api, "--log-level", "info",
		"--listen", fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", 4001+i), "--network", network, "--mdns=false",
		"--id-difficulty", strconv.Itoa(testnet.ProcDifficulty), "--post-difficulty", strconv.Itoa(testnet.ProcDifficulty),
		"--dht-mode", p2p.DHTModeAuto, "--dht-mode-delay", "3s", "--addrs-file", filepath.Join(dir, "addrs")}, extra...)
	logf, err := os.Create(nd.log)
	if err != nil {
		t.Fatal(err)
	}
	nd.cmd = exec.Command("ip", args...)
	nd.cmd.Stdout, nd.cmd.Stderr = logf, logf
	if err := nd.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", nd.name, err)
	}
	go func() { _ = nd.cmd.Wait(); logf.Close(); close(nd.done) }()
	lab.mu.Lock()
	lab.nodes = append(lab.nodes, nd)
	lab.mu.Unlock()
	nd.waitFor(t, "the node's API", 60*time.Second, func() bool {
		_, err := nd.try("status")
		return err == nil
	})
	return nd
}

func (nd *nsNode) kill() {
	if nd.cmd.Process != nil {
		_ = nd.cmd.Process.Signal(syscall.SIGKILL)
		<-nd.done
	}
}

// try runs a murmur command against the node, in its namespace.
func (nd *nsNode) try(args ...string) (string, error) {
	select {
	case <-nd.done:
		return "", fmt.Errorf("%s exited", nd.name)
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The flags first: a post's text ends the flags.
	full := append([]string{"netns", "exec", nd.ns, nd.bin, args[0], "--api", nd.api}, args[1:]...)
	out, err := exec.CommandContext(ctx, "ip", full...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		return "", fmt.Errorf("murmur %s on %s: %v: %s", strings.Join(args, " "), nd.name, err, stderr)
	}
	return string(out), nil
}

func (nd *nsNode) cli(t *testing.T, args ...string) string {
	t.Helper()
	out, err := nd.try(args...)
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, nd.logTail(30))
	}
	return out
}

func (nd *nsNode) status(t *testing.T) api.Status {
	t.Helper()
	var s api.Status
	if err := json.Unmarshal([]byte(nd.cli(t, "status")), &s); err != nil {
		t.Fatalf("status of %s: %v", nd.name, err)
	}
	return s
}

// search returns the IDs of the first page of q's matches.
func (nd *nsNode) search(t *testing.T, q string) []string {
	t.Helper()
	var r api.SearchResponse
	if err := json.Unmarshal([]byte(nd.cli(t, "search", "--json", q)), &r); err != nil {
		t.Fatalf("search on %s: %v", nd.name, err)
	}
	ids := make([]string, len(r.Hits))
	for i, h := range r.Hits {
		ids[i] = h.ID
	}
	return ids
}

func (nd *nsNode) waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s not within %v\nlog (last lines):\n%s", nd.name, what, timeout, nd.logTail(40))
		}
		select {
		case <-nd.done:
			t.Fatalf("%s exited while waiting for %s\nlog:\n%s", nd.name, what, nd.logTail(40))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (nd *nsNode) waitStatus(t *testing.T, what string, timeout time.Duration, cond func(api.Status) bool) {
	t.Helper()
	var last api.Status
	deadline := time.Now().Add(timeout)
	for {
		out, err := nd.try("status")
		if err == nil && json.Unmarshal([]byte(out), &last) == nil && cond(last) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s not within %v; last status: reachability %q, DHT %s, routing table %d, peers %d, relay addresses %v\nlog (last lines):\n%s",
				nd.name, what, timeout, last.Reachability, last.DHTMode, last.RoutingTable, last.Peers, last.RelayAddrs, nd.logTail(40))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// addrOn is the node's full multiaddr on the given IP, from its addresses
// file.
func (nd *nsNode) addrOn(t *testing.T, ip string) string {
	t.Helper()
	var found string
	poll.Until(t, nd.name+"'s address on "+ip, 30*time.Second, 100*time.Millisecond, func() bool {
		f, err := os.Open(filepath.Join(filepath.Dir(nd.log), "addrs"))
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "/ip4/"+ip+"/tcp/") {
				found = sc.Text()
			}
		}
		return found != ""
	})
	return found
}

func (nd *nsNode) logTail(n int) string {
	b, err := os.ReadFile(nd.log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
