package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/testwait"

	"github.com/hashicorp/memberlist"

	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/store"
)

// testNet is a set of in-process members whose data channel can be cut.
type testNet struct {
	t   testing.TB
	mu  sync.Mutex
	cut map[string]bool // API addresses cut off from everyone
}

func newTestNet(t testing.TB) *testNet { return &testNet{t: t, cut: map[string]bool{}} }

func (n *testNet) setCut(node *testNode, cut bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[node.api] = cut
}

func (n *testNet) blocked(from, to string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cut[from] || n.cut[to]
}

var errCut = errors.New("test network: link cut")

// cutTransport fails every call between a cut member and anyone else.
type cutTransport struct {
	Transport
	net  *testNet
	self string
}

func (c cutTransport) VersionVector(ctx context.Context, ep Endpoint) (crdt.VersionVector, error) {
	if c.net.blocked(c.self, ep.Addr) {
		return nil, errCut
	}
	return c.Transport.VersionVector(ctx, ep)
}

func (c cutTransport) Push(ctx context.Context, ep Endpoint, ops []crdt.Op) (crdt.VersionVector, error) {
	if c.net.blocked(c.self, ep.Addr) {
		return nil, errCut
	}
	return c.Transport.Push(ctx, ep, ops)
}

func (c cutTransport) Pull(ctx context.Context, ep Endpoint, origin crdt.NodeID, after uint64, limit, maxBytes int) ([]crdt.Op, error) {
	if c.net.blocked(c.self, ep.Addr) {
		return nil, errCut
	}
	return c.Transport.Pull(ctx, ep, origin, after, limit, maxBytes)
}

func (c cutTransport) Snapshot(ctx context.Context, ep Endpoint) (io.ReadCloser, error) {
	if c.net.blocked(c.self, ep.Addr) {
		return nil, errCut
	}
	return c.Transport.Snapshot(ctx, ep)
}

// testNode is one member: a store on a file, gossip on its own 127.0.0.x
// address, and the data channel served over real HTTP.
type testNode struct {
	name    string
	ip      string
	dbPath  string
	api     string
	st      *store.Store
	c       *Cluster
	srv     *http.Server
	stopped bool
}

// startNode starts member name on 127.0.0.ip with its data in dbPath,
// joining seeds; it is stopped at cleanup.
func (n *testNet) startNode(name string, ip int, dbPath string, seeds ...string) *testNode {
	n.t.Helper()
	return n.startNodeWith(name, ip, dbPath, func(c *Config) { c.Seeds = seeds })
}

// startNodeWith is startNode with the test configuration changed by opts
// before the member starts.
func (n *testNet) startNodeWith(name string, ip int, dbPath string, opts ...func(*Config)) *testNode {
	t := n.t
	t.Helper()
	addr := "127.0.0." + strconv.Itoa(ip)
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{name: name, ip: addr, dbPath: dbPath, api: ln.Addr().String(), st: st}
	cfg := Config{
		Name: name, BindAddr: addr, APIAddr: tn.api,
		Memberlist: func() *memberlist.Config {
			mc := memberlist.DefaultLocalConfig()
			mc.BindPort = 0 // any free port
			mc.DeadNodeReclaimTime = time.Millisecond
			mc.PushPullInterval = 500 * time.Millisecond // mends lost alive broadcasts quickly
			return mc
		},
		JoinTimeout:         5 * time.Second,
		LeaveTimeout:        5 * time.Second,
		AntiEntropyInterval: 200 * time.Millisecond,
		PruneInterval:       time.Hour, // tests prune explicitly
		Transport:           cutTransport{Transport: &HTTPTransport{Source: net.ParseIP(addr)}, net: n, self: tn.api},
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := New(cfg, st)
	if err != nil {
		_ = st.Close()
		t.Fatal(err)
	}
	tn.c = c
	tn.srv = &http.Server{Handler: c.Handler()}
	go func() { _ = tn.srv.Serve(ln) }()
	t.Cleanup(tn.stop)
	// A member whose data file records that it left stays out: Join refuses.
	if err := c.Join(context.Background()); err != nil && !(errors.Is(err, ErrLeft) && c.Left()) {
		t.Fatal(err)
	}
	return tn
}

// gossip is the member's gossip address, a seed for others.
func (tn *testNode) gossip() string { return tn.c.gossipAddr() }

// stop shuts the member down without a leave, like a killed process.
func (tn *testNode) stop() {
	if tn.stopped {
		return
	}
	tn.stopped = true
	_ = tn.c.Close()
	_ = tn.srv.Close()
	_ = tn.st.Close()
}

// startCluster starts n members, each joining those before it (as DNS seeds
// would give it), with opts applied to each one's configuration.
func (n *testNet) startCluster(size int, opts ...func(*Config)) []*testNode {
	dir := n.t.TempDir()
	var nodes []*testNode
	for i := 0; i < size; i++ {
		var seeds []string
		for _, prev := range nodes {
			seeds = append(seeds, prev.gossip())
		}
		nodes = append(nodes, n.startNodeWith(fmt.Sprint("node-", i), 10+i, filepath.Join(dir, fmt.Sprint("node-", i, ".db")),
			append([]func(*Config){func(c *Config) { c.Seeds = seeds }}, opts...)...))
	}
	waitFor(n.t, 10*time.Second, "every member sees every other", func() bool {
		for _, tn := range nodes {
			if len(tn.c.alivePeers()) != size-1 {
				var names []string
				for _, m := range tn.c.gossip().ml.Members() {
					names = append(names, m.Name+"/"+m.Address())
				}
				n.t.Logf("%s sees %d peers; memberlist sees %v", tn.name, len(tn.c.alivePeers()), names)
				return false
			}
		}
		return true
	})
	return nodes
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, what, timeout, 20*time.Millisecond, cond)
}

// converged reports whether every running node holds the same data.
func converged(t testing.TB, nodes []*testNode) bool {
	t.Helper()
	var first string
	for i, tn := range nodes {
		if tn.stopped {
			continue
		}
		d, err := tn.st.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && d != first {
			return false
		}
		first = d
	}
	return true
}

// convergedAndKnown reports whether every node holds the same data and
// knows that every other one holds it (as pruning needs).
func convergedAndKnown(t testing.TB, nodes []*testNode) bool {
	t.Helper()
	if !converged(t, nodes) {
		return false
	}
	for _, tn := range nodes {
		for _, p := range tn.c.alivePeers() {
			if !p.known().Dominates(tn.st.VersionVector()) {
				return false
			}
		}
	}
	return true
}

func put(t testing.TB, tn *testNode, key, value string) crdt.Op {
	t.Helper()
	if err := tn.c.BeginWrite(); err != nil {
		t.Fatalf("put %q on %s: %v", key, tn.name, err)
	}
	defer tn.c.EndWrite()
	op, err := tn.st.Put(context.Background(), []byte(key), []byte(value), "", nil)
	if err != nil {
		t.Fatalf("put %q on %s: %v", key, tn.name, err)
	}
	return op
}

func del(t *testing.T, tn *testNode, key string) {
	t.Helper()
	if err := tn.c.BeginWrite(); err != nil {
		t.Fatal(err)
	}
	defer tn.c.EndWrite()
	if _, err := tn.st.Delete(context.Background(), []byte(key), nil); err != nil {
		t.Fatalf("delete %q on %s: %v", key, tn.name, err)
	}
}

func get(t *testing.T, tn *testNode, key string) (string, int) {
	t.Helper()
	it, err := tn.st.Get([]byte(key))
	if errors.Is(err, store.ErrNotFound) {
		return "<absent>", 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(it.Shown().Value), len(it.Versions)
}
