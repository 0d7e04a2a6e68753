package testnet

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/internal/poll"
)

// Procs is a test network of murmur node processes: the real binary, built
// once per test binary, each node a child process with its own data
// directory, joined through the first node's address file. Kill sends
// SIGKILL, as a crash or a power cut would.
type Procs struct {
	tb    testing.TB
	bin   string
	name  string
	dir   string
	Nodes []*Proc
}

// Proc is one node process.
type Proc struct {
	Index int
	// Dir is the node's data directory; it outlives Kill, for Restart.
	Dir string
	// API talks to the node over HTTP; it changes on Restart.
	API *api.Client

	cmd  *exec.Cmd
	done chan struct{}
}

// Binary builds cmd/murmur into the test's temporary directory (the build
// cache makes every build after the first a link) and returns its path.
func Binary(tb testing.TB) string {
	tb.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		tb.Fatalf("find the module: %v", err)
	}
	bin := filepath.Join(tb.TempDir(), "murmur")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/murmur")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build ./cmd/murmur: %v\n%s", err, out)
	}
	return bin
}

// StartProcesses starts n node processes and waits until every routing
// table holds every other node. They are killed when the test ends.
func StartProcesses(tb testing.TB, n int) *Procs {
	tb.Helper()
	ps := &Procs{tb: tb, bin: Binary(tb), name: newName(), dir: tb.TempDir()}
	tb.Cleanup(ps.Close)
	for i := 0; i < n; i++ {
		nd := &Proc{Index: i, Dir: filepath.Join(ps.dir, fmt.Sprintf("node%d", i))}
		ps.Nodes = append(ps.Nodes, nd)
		ps.start(nd)
	}
	ps.WaitRouting(60 * time.Second)
	return ps
}

var apiLine = regexp.MustCompile(`API and web page: http://([0-9.:]+)/`)

func (ps *Procs) addrsFile() string { return filepath.Join(ps.dir, "node0.addrs") }

func (ps *Procs) start(nd *Proc) {
	ps.tb.Helper()
	args := []string{"node", "--data", nd.Dir, "--api", "127.0.0.1:0", "--log-level", "warn",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--network", ps.name, "--mdns=false"}
	if nd.Index == 0 {
		args = append(args, "--addrs-file", ps.addrsFile())
	} else {
		args = append(args, "--bootstrap-file", ps.addrsFile())
	}
	cmd := exec.Command(ps.bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		ps.tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		ps.tb.Fatalf("start node process %d: %v", nd.Index, err)
	}
	nd.cmd, nd.done = cmd, make(chan struct{})
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := apiLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
		_ = cmd.Wait()
		close(nd.done)
	}()
	select {
	case addr := <-addrc:
		nd.API = api.NewClient(addr)
	case <-nd.done:
		ps.tb.Fatalf("node process %d exited before it served", nd.Index)
	case <-time.After(30 * time.Second):
		ps.tb.Fatalf("node process %d did not print its API address", nd.Index)
	}
	ps.waitFor(fmt.Sprintf("node process %d answers", nd.Index), 30*time.Second, func() bool {
		_, err := nd.API.Status(context.Background())
		return err == nil
	})
}

// Alive reports whether the process runs.
func (nd *Proc) Alive() bool {
	if nd.cmd == nil {
		return false
	}
	select {
	case <-nd.done:
		return false
	default:
		return true
	}
}

// PID is the node's process ID while it runs, else 0.
func (nd *Proc) PID() int {
	if !nd.Alive() {
		return 0
	}
	return nd.cmd.Process.Pid
}

// Kill sends SIGKILL to node i and waits for it to exit.
func (ps *Procs) Kill(i int) {
	nd := ps.Nodes[i]
	if !nd.Alive() {
		return
	}
	_ = nd.cmd.Process.Signal(syscall.SIGKILL)
	<-nd.done
}

// Restart starts a killed node again on its data directory.
func (ps *Procs) Restart(i int) *Proc {
	ps.tb.Helper()
	ps.Kill(i)
	ps.start(ps.Nodes[i])
	return ps.Nodes[i]
}

// Alive returns the running nodes.
func (ps *Procs) Alive() []*Proc { return running(ps.Nodes) }

// WaitRouting waits until every live node's routing table holds every other
// live node, as its status reports.
func (ps *Procs) WaitRouting(timeout time.Duration) {
	ps.tb.Helper()
	ps.waitFor("routing tables complete", timeout, func() bool {
		alive := ps.Alive()
		for _, nd := range alive {
			st, err := nd.API.Status(context.Background())
			if err != nil || st.RoutingTable < len(alive)-1 {
				return false
			}
		}
		return true
	})
}

func (ps *Procs) waitFor(what string, timeout time.Duration, cond func() bool) {
	ps.tb.Helper()
	poll.Until(ps.tb, what, timeout, 100*time.Millisecond, cond)
}

// Close kills every node process.
func (ps *Procs) Close() {
	for i := range ps.Nodes {
		ps.Kill(i)
	}
}
