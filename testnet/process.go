package testnet

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/murmur-p2p/murmur/api"
)

// Procs is a test network of murmur node processes: the real binary, built
// once per test binary, each node a child process with its own data
// directory, joined through the first node's address file. Kill sends
// SIGKILL, as a crash or a power cut would.
type Procs struct {
	harness[*Proc]
	bin  string
	name string
	dir  string
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
	ps := &Procs{bin: Binary(tb), name: newName(), dir: tb.TempDir()}
	ps.harness = harness[*Proc]{tb: tb, poll: 100 * time.Millisecond, start: ps.start}
	tb.Cleanup(ps.Close)
	for i := 0; i < n; i++ {
		nd := &Proc{Index: i, Dir: filepath.Join(ps.dir, fmt.Sprintf("node%d", i))}
		ps.Nodes = append(ps.Nodes, nd)
		ps.start(nd)
	}
	ps.WaitRouting(60 * time.Second)
	return ps
}

// ProcDifficulty is the identity puzzle and the post difficulty of a
// network of processes: small, so that a node finds its key and signs a
// post in a millisecond, yet not zero, so that the CLI's paths through
// them run.
const ProcDifficulty = 6

var apiLine = regexp.MustCompile(`API and web page: http://([0-9.:]+)/`)

func (ps *Procs) addrsFile() string { return filepath.Join(ps.dir, "node0.addrs") }

func (ps *Procs) start(nd *Proc) {
	ps.tb.Helper()
	args := []string{"node", "--data", nd.Dir, "--api", "127.0.0.1:0", "--log-level", "warn",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--network", ps.name, "--mdns=false",
		"--id-difficulty", strconv.Itoa(ProcDifficulty), "--post-difficulty", strconv.Itoa(ProcDifficulty)}
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

// stop sends SIGKILL, as a crash or a power cut would, and waits for the
// process to exit.
func (nd *Proc) stop(testing.TB) {
	_ = nd.cmd.Process.Signal(syscall.SIGKILL)
	<-nd.done
}

func (nd *Proc) dhtClient() bool { return false }

// peerID is not known of a node process: the harness waits for a whole
// routing table, as it does for the small networks it starts.
func (nd *Proc) peerID() (peer.ID, bool) { return "", false }

func (nd *Proc) routingTable() (int, bool) {
	st, err := nd.API.Status(context.Background())
	if err != nil {
		return 0, false
	}
	return st.RoutingTable, true
}

// refreshRouting does nothing: a process is asked only over its API.
func (nd *Proc) refreshRouting() {}
