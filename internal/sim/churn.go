package sim

import (
	"container/heap"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/post"
)

// Churn is a model of nodes leaving and joining: each node stays for a
// session drawn from Session, and leaves; a new node, with a new identity
// and nothing held, joins in its place at once. What a node held is gone
// with it; RepairDelay after a change, the nodes that still hold a key
// hand it to its new owners (p2p's repair, as a delay: its code does not
// run here), and a key whose holders all left before that is lost. A
// node's view counts as settling (queriers ask every owner) for
// SettleMargin after the last repair, as p2p's does.
type Churn struct {
	// Name names the model in reports.
	Name string
	// Session draws a session length.
	Session func(r *rand.Rand) time.Duration
	// RepairDelay is how long after a change repair hands keys to new
	// owners.
	RepairDelay time.Duration
	// SettleMargin is how long after a repair queriers still ask every
	// owner (p2p's default is 3 minutes).
	SettleMargin time.Duration
	// SettleByKey settles each key on its own, as p2p does: queriers ask
	// every owner of a key only while its owners changed
	// RepairDelay+SettleMargin ago or less. Without it, every key's while
	// any changed (p2p's rule before it settled by key).
	SettleByKey bool
	// Warmup is how long the network churns before the first search;
	// Window is the time over which the searches are spread.
	Warmup, Window time.Duration
}

// IPFS session lengths: 87.6% of the sessions the IPFS network's crawler
// saw were under 8 hours (Trautwein et al., "Design and Evaluation of
// IPFS", SIGCOMM 2022, section 5.1). The shape of the distribution is an
// assumption: a Weibull with shape 0.5, as measured session lengths in
// peer-to-peer networks are heavy-tailed Weibulls with shape below 1
// (Stutzbach and Rejaie, "Understanding Churn in Peer-to-Peer Networks",
// IMC 2006), its scale fitted so that P(session < 8 h) = 0.876: a median
// of 53 minutes and a mean of 3.7 hours.
const (
	ipfsShape        = 0.5
	ipfsUnder8Hours  = 0.876
	ipfsRepairDelay  = 30 * time.Second
	ipfsSettleMargin = 3 * time.Minute
)

// ipfsScale is the Weibull scale for which P(S < 8h) = ipfsUnder8Hours.
var ipfsScale = 8 * time.Hour.Hours() / math.Pow(-math.Log(1-ipfsUnder8Hours), 1/ipfsShape)

// IPFSSession draws a session length from the IPFS model.
func IPFSSession(r *rand.Rand) time.Duration {
	u := r.Float64()
	hours := ipfsScale * math.Pow(-math.Log(1-u), 1/ipfsShape)
	return time.Duration(hours * float64(time.Hour))
}

// IPFSChurn is the IPFS churn model with repair 30 s after a change, an
// hour of churn before the searches and the searches spread over an hour.
func IPFSChurn() *Churn {
	return &Churn{Name: "ipfs", Session: IPFSSession, RepairDelay: ipfsRepairDelay, SettleMargin: ipfsSettleMargin,
		SettleByKey: true, Warmup: time.Hour, Window: time.Hour}
}

// ChurnReport is what churn did during a simulation.
type ChurnReport struct {
	Model        string  `json:"model"`
	VirtualHours float64 `json:"virtual_hours"`
	Leaves       int     `json:"leaves"`
	Joins        int     `json:"joins"`
	// LostKeys are keys whose every holder left before repair handed them
	// on; LostPostings the posts under them.
	LostKeys     int `json:"lost_keys"`
	LostPostings int `json:"lost_postings"`
	// Repairs counts keys handed to new owners; RepairPostings the posts
	// stored by those hand-overs (real nodes, package internal/simnet:
	// the posts p2p's repair passes pushed to new owners, from the
	// churn's start to the searches' end: a post counts once for each
	// owner each pass pushed it to, and a key's several holders each push
	// it; keys are not counted).
	Repairs        int `json:"repairs"`
	RepairPostings int `json:"repair_postings"`
	// SettlingShare is the share of searches run while queriers asked
	// every owner.
	SettlingShare float64 `json:"settling_share"`
	// MedianSessionMinutes is of the sessions drawn.
	MedianSessionMinutes float64 `json:"median_session_minutes"`
	// QueriersCrashed counts the searches whose querier crashed while it
	// searched (real nodes, package internal/simnet): they found nothing.
	QueriersCrashed int `json:"queriers_crashed,omitempty"`
}

// churnState is a network's churn in virtual time.
type churnState struct {
	model       *Churn
	rng         *rand.Rand
	keys        io.Reader // identities of joining nodes
	now         time.Duration
	settleUntil time.Duration
	// keySettleUntil is, per key, until when its owners settle.
	keySettleUntil map[string]time.Duration
	events         eventQueue
	sessions       []time.Duration
	lost           map[string]bool
	joined         int
	rep            ChurnReport
}

type eventKind int

const (
	eventLeave eventKind = iota
	eventRepair
)

type event struct {
	at   time.Duration
	kind eventKind
	node *Node  // leave
	key  string // repair
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].kind < q[j].kind
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// StartChurn starts model on the network at virtual time 0, every node at
// the start of a session, with seed fixing the sessions and the joining
// identities.
func (net *Network) StartChurn(model *Churn, seed uint64) {
	net.mu.Lock()
	defer net.mu.Unlock()
	c := &churnState{model: model, rng: rand.New(rand.NewPCG(seed, 3)), keys: seeded(seed, 2), lost: map[string]bool{},
		keySettleUntil: map[string]time.Duration{}}
	c.rep.Model = model.Name
	net.churn = c
	for _, nd := range net.nodes {
		c.schedule(nd)
	}
}

func (c *churnState) schedule(nd *Node) {
	d := c.model.Session(c.rng)
	c.sessions = append(c.sessions, d)
	heap.Push(&c.events, event{at: c.now + d, kind: eventLeave, node: nd})
}

// AdvanceTo runs the churn's events up to virtual time t: leaves, the
// joins that replace them, and repairs.
func (net *Network) AdvanceTo(ctx context.Context, t time.Duration) error {
	net.mu.Lock()
	defer net.mu.Unlock()
	c := net.churn
	if c == nil {
		return nil
	}
	for c.events.Len() > 0 && c.events[0].at <= t {
		at := c.events[0].at
		c.now = at
		// Every repair due now, together: one store per node.
		var due []string
		for c.events.Len() > 0 && c.events[0].at == at {
			e := heap.Pop(&c.events).(event)
			switch e.kind {
			case eventLeave:
				if err := net.leave(e.node); err != nil {
					return err
				}
				if err := net.join(); err != nil {
					return err
				}
			case eventRepair:
				due = append(due, e.key)
			}
		}
		if len(due) > 0 {
			if err := net.repair(ctx, due); err != nil {
				return err
			}
			c.settleUntil = max(c.settleUntil, at+c.model.SettleMargin)
		}
	}
	c.now = t
	return nil
}

// markChanged drops key's cached owners and schedules its repair.
func (net *Network) markChanged(key string) {
	net.ownersMu.Lock()
	delete(net.owners, key)
	net.ownersMu.Unlock()
	c := net.churn
	heap.Push(&c.events, event{at: c.now + c.model.RepairDelay, kind: eventRepair, key: key})
	// Until repair and a margin after, queriers know the membership changed.
	until := c.now + c.model.RepairDelay + c.model.SettleMargin
	c.settleUntil = max(c.settleUntil, until)
	c.keySettleUntil[key] = max(c.keySettleUntil[key], until)
}

// leave takes nd out of the network with everything it held.
func (net *Network) leave(nd *Node) error {
	c := net.churn
	c.rep.Leaves++
	i := slices.Index(net.nodes, nd)
	if i < 0 {
		return fmt.Errorf("node %s left twice", nd.ID)
	}
	net.nodes = slices.Delete(net.nodes, i, i+1)
	delete(net.byID, nd.ID)
	var changed []string
	net.ownersMu.Lock()
	for k, owners := range net.owners {
		if slices.Contains(owners, nd.ID) {
			changed = append(changed, k)
		}
	}
	net.ownersMu.Unlock()
	for _, k := range changed {
		net.markChanged(k)
	}
	for k := range nd.held {
		delete(net.holders[k], nd)
	}
	dir := nd.dir
	if err := nd.ix.Close(); err != nil {
		return fmt.Errorf("close the index of %s: %w", nd.ID, err)
	}
	return os.RemoveAll(dir)
}

// join adds a node with a new identity, holding nothing, in its first
// session.
func (net *Network) join() error {
	c := net.churn
	key, _, err := crypto.GenerateEd25519Key(c.keys)
	if err != nil {
		return fmt.Errorf("node key: %w", err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return fmt.Errorf("node ID: %w", err)
	}
	c.joined++
	dir := filepath.Join(net.dir, fmt.Sprintf("joined-%05d", c.joined))
	ix, err := index.Open(index.Config{Dir: dir, Logger: slog.New(slog.DiscardHandler), MinFreeBytes: -1})
	if err != nil {
		return fmt.Errorf("index of a joining node: %w", err)
	}
	nd := &Node{ID: id, kbID: kb.ConvertPeerID(id), ix: ix, dir: dir, held: map[string]int{}}
	// The keys it is now an owner of: closer than one of their owners.
	var changed []string
	net.ownersMu.Lock()
	for k, owners := range net.owners {
		if len(owners) < Replicas || closer(nd.kbID, net.byID[owners[len(owners)-1]].kbID, net.keyIDs[k]) {
			changed = append(changed, k)
		}
	}
	net.ownersMu.Unlock()
	net.nodes = append(net.nodes, nd)
	net.byID[id] = nd
	for _, k := range changed {
		net.markChanged(k)
	}
	c.rep.Joins++
	c.schedule(nd)
	return nil
}

// closer reports whether a is closer to target than b by XOR distance
// (p2p's closerTo).
func closer(a, b, target []byte) bool {
	for i := range target {
		if da, db := a[i]^target[i], b[i]^target[i]; da != db {
			return da < db
		}
	}
	return false
}

// repair hands each key to those of its owners that lack it, from the
// nodes that hold it; a key nobody holds any more is lost.
func (net *Network) repair(ctx context.Context, keys []string) error {
	c := net.churn
	put := map[*Node]map[string]*post.Post{}
	for _, k := range keys {
		if c.lost[k] || len(net.keyPosts[k]) == 0 {
			continue // gone already, or a key asked of but holding nothing
		}
		if len(net.holders[k]) == 0 {
			c.lost[k] = true
			c.rep.LostKeys++
			c.rep.LostPostings += len(net.keyPosts[k])
			continue
		}
		for _, o := range net.ownersLocked(k) {
			nd := net.byID[o]
			if net.holders[k][nd] {
				continue
			}
			if put[nd] == nil {
				put[nd] = map[string]*post.Post{}
			}
			for _, p := range net.keyPosts[k] {
				put[nd][p.ID] = p
			}
			nd.held[k] = len(net.keyPosts[k])
			net.holders[k][nd] = true
			c.rep.Repairs++
			c.rep.RepairPostings += len(net.keyPosts[k])
		}
	}
	for nd, ps := range put {
		if _, err := nd.ix.Put(ctx, slices.Collect(maps.Values(ps))...); err != nil {
			return fmt.Errorf("repair at %s: %w", nd.ID, err)
		}
	}
	return nil
}

// churnReport is the churn's figures so far.
func (net *Network) churnReport() *ChurnReport {
	net.mu.RLock()
	defer net.mu.RUnlock()
	c := net.churn
	if c == nil {
		return nil
	}
	rep := c.rep
	rep.VirtualHours = c.now.Hours()
	if len(c.sessions) > 0 {
		s := slices.Clone(c.sessions)
		slices.Sort(s)
		rep.MedianSessionMinutes = s[len(s)/2].Minutes()
	}
	return &rep
}

// settling reports whether any key's owners are settling.
func (net *Network) settling() bool {
	net.mu.RLock()
	defer net.mu.RUnlock()
	return net.churn != nil && net.churn.now < net.churn.settleUntil
}
