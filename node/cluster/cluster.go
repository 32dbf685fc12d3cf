package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/hashicorp/memberlist"

	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/store"
)

// Sentinel errors callers act on.
var (
	// ErrLeaving: the node is leaving or has left and takes no writes.
	ErrLeaving = errors.New("node is leaving the cluster")
	// ErrHandOff: the leave could not prove every other member holds this
	// node's operations in time; the node stays a full member.
	ErrHandOff = errors.New("hand-off incomplete")
	// ErrNoPeers: there is no other live member to hand data to.
	ErrNoPeers = errors.New("no other live member to hand data off to")
)

// Batch bounds for push and pull.
const (
	batchOps   = 512
	batchBytes = 4 << 20
)

// meta is what each member gossips about itself.
type meta struct {
	ID  crdt.NodeID `cbor:"1,keyasint"`
	API string      `cbor:"2,keyasint"`
	// Left: the member handed its data off and is leaving for good.
	Left bool `cbor:"3,keyasint,omitempty"`
	// Origin is the member process's origin, new at every start: a change
	// means a restart (perhaps from an older copy of its data), so what it
	// was known to hold is known no more.
	Origin crdt.NodeID `cbor:"4,keyasint,omitempty"`
}

// Cluster is this node's membership and replication.
type Cluster struct {
	cfg     Config
	store   *store.Store
	ml      *memberlist.Memberlist
	log     *slog.Logger
	metrics *metrics

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	peers map[string]*peer      // live members by name, this node excluded
	gone  map[string]goneMember // members seen leaving or dying

	ready     atomic.Bool
	gate      sync.RWMutex // writes hold it shared; Leave takes it to stop them
	leaving   bool         // guarded by gate
	leaveMu   sync.Mutex   // one Leave at a time
	left      *LeaveResult // guarded by leaveMu
	allPush   atomic.Bool  // senders push every origin (during a leave)
	handedOff atomic.Bool  // gossiped: this member leaves for good
}

// New starts gossip on cfg's addresses and the replication loops. It does
// not join anyone: call Join.
func New(cfg Config, st *store.Store) (*Cluster, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cluster{cfg: cfg, store: st, log: cfg.Logger.With("member", cfg.Name), peers: map[string]*peer{}, gone: map[string]goneMember{}, ctx: ctx, cancel: cancel}
	c.metrics = newMetrics(c, cfg.Registerer)

	mc := cfg.Memberlist()
	mc.Name = cfg.Name
	mc.BindAddr, mc.BindPort = cfg.BindAddr, cfg.BindPort
	mc.AdvertiseAddr, mc.AdvertisePort = cfg.AdvertiseAddr, cfg.AdvertisePort
	mc.SecretKey = cfg.GossipKey
	mc.Delegate = (*delegate)(c)
	mc.Events = (*events)(c)
	mc.Ping = (*pings)(c)
	mc.Logger = log.New(memberlistLog{c}, "", 0)
	mc.LogOutput = nil
	if mc.DeadNodeReclaimTime == 0 {
		mc.DeadNodeReclaimTime = 10 * time.Second // a restarted pod keeps its name
	}
	if cfg.WrapGossip != nil {
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{mc.BindAddr}, BindPort: mc.BindPort, Logger: mc.Logger,
		})
		if err != nil {
			cancel()
			c.metrics.unregister()
			return nil, fmt.Errorf("start gossip: %w", err)
		}
		if mc.BindPort == 0 { // as memberlist does for its own transport
			mc.BindPort = nt.GetAutoBindPort()
			mc.AdvertisePort = mc.BindPort
		}
		mc.Transport = cfg.WrapGossip(nt)
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		if mc.Transport != nil && cfg.WrapGossip != nil {
			_ = mc.Transport.Shutdown()
		}
		cancel()
		c.metrics.unregister()
		return nil, fmt.Errorf("start gossip: %w", err)
	}
	c.ml = ml
	c.wg.Add(2)
	go c.every(cfg.AntiEntropyInterval, c.antiEntropyRound)
	go c.every(cfg.PruneInterval, c.pruneRound)
	if len(cfg.Seeds) > 0 || cfg.SeedDNS != "" {
		c.wg.Add(1)
		go c.every(cfg.ReseedInterval, c.reseedRound)
	}
	return c, nil
}

// Join contacts seeds (cfg.Seeds, the A/AAAA records of cfg.SeedDNS, and
// extra), retrying until one other member answers or JoinTimeout passes, and
// then catches up from every member it found before reporting ready. A
// catch-up that fails part-way is retried, and the node stays not ready,
// until it succeeds or ctx ends; members that die meanwhile are not waited
// for. A node whose only seed is itself, or that has no seeds (a seed host
// name that does not resolve counts as none), or that reaches none, starts
// alone and ready; re-seeding (see ReseedInterval) joins it to the others
// once its seeds name them, and anti-entropy then brings both sides up to
// date.
func (c *Cluster) Join(ctx context.Context, extra ...string) error {
	deadline := time.Now().Add(c.cfg.JoinTimeout)
	for {
		seeds := c.seeds(ctx, extra)
		if len(seeds) == 0 {
			c.log.Info("no seeds: starting alone")
			c.ready.Store(true)
			return nil
		}
		n, err := c.ml.Join(seeds)
		if n > 0 {
			c.log.Info("joined cluster", "seeds", seeds, "contacted", n)
			return c.catchUpRetrying(ctx)
		}
		if time.Now().After(deadline) {
			c.log.Warn("no seed answered: starting alone", "seeds", seeds, "error", err)
			c.ready.Store(true)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// SetAPIAddr sets the address peers use for this node's HTTP API, once it is
// known (the API may listen on port 0), and gossips it.
func (c *Cluster) SetAPIAddr(addr string) error {
	c.mu.Lock()
	c.cfg.APIAddr = addr
	c.mu.Unlock()
	if err := c.ml.UpdateNode(time.Second); err != nil {
		return fmt.Errorf("announce API address: %w", err)
	}
	return nil
}

func (c *Cluster) apiAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.APIAddr
}

// Ready reports whether the node has caught up after joining.
func (c *Cluster) Ready() bool { return c.ready.Load() }

// BeginWrite admits a local write, or refuses it with ErrLeaving. A nil
// error must be followed by EndWrite once the write is durable.
func (c *Cluster) BeginWrite() error {
	c.gate.RLock()
	if c.leaving {
		c.gate.RUnlock()
		return ErrLeaving
	}
	return nil
}

// EndWrite ends a write admitted by BeginWrite and starts pushing it.
func (c *Cluster) EndWrite() {
	c.gate.RUnlock()
	c.wakeSenders()
}

// Close leaves gossip without hand-off (the node is restarting, not
// leaving) and stops every loop.
func (c *Cluster) Close() error {
	c.cancel()
	err := c.ml.Shutdown()
	c.mu.Lock()
	for _, p := range c.peers {
		p.stop()
	}
	c.mu.Unlock()
	c.wg.Wait()
	c.metrics.unregister()
	return err
}

func (c *Cluster) wakeSenders() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.peers {
		p.wake()
	}
}

// alivePeers returns the peers currently alive or suspect.
func (c *Cluster) alivePeers() []*peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*peer
	for _, p := range c.peers {
		if p.live() {
			out = append(out, p)
		}
	}
	return out
}

// every runs fn each interval until the cluster stops.
func (c *Cluster) every(interval time.Duration, fn func()) {
	defer c.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// antiEntropyRound pulls what a random live peer has and this node lacks.
func (c *Cluster) antiEntropyRound() {
	peers := c.alivePeers()
	if len(peers) == 0 {
		return
	}
	p := peers[rand.IntN(len(peers))]
	if err := c.pullFrom(c.ctx, p); err != nil && c.ctx.Err() == nil {
		c.log.Debug("anti-entropy round failed", "peer", p.name, "error", err)
	}
}

// catchUpRetrying catches up until it succeeds, then reports ready.
func (c *Cluster) catchUpRetrying(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		err := c.catchUp(ctx)
		if err == nil {
			c.ready.Store(true)
			c.log.Info("caught up: ready")
			return nil
		}
		c.metrics.catchUpFailures.Inc()
		c.log.Warn("catch-up failed: retrying; not ready meanwhile", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.ctx.Done():
			return c.ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// catchUp pulls from every live peer until this node has what each had.
func (c *Cluster) catchUp(ctx context.Context) error {
	for _, p := range c.alivePeers() {
		if err := c.pullFrom(ctx, p); err != nil {
			return fmt.Errorf("catch up from %s: %w", p.name, err)
		}
	}
	return nil
}

// pullFrom fetches p's version vector and pulls every operation it has that
// this node lacks, origin by origin.
func (c *Cluster) pullFrom(ctx context.Context, p *peer) error {
	c.metrics.rounds.Inc()
	api := p.apiAddr()
	theirs, err := c.cfg.Transport.VersionVector(ctx, api)
	if err != nil {
		return err
	}
	p.observe(theirs)
	for origin, upTo := range theirs {
		for mine := c.store.VersionVector()[origin]; mine < upTo; mine = c.store.VersionVector()[origin] {
			ops, err := c.cfg.Transport.Pull(ctx, api, origin, mine, batchOps, batchBytes)
			if errors.Is(err, store.ErrPruned) {
				if err := c.snapshotFrom(ctx, p); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("pull %v after %d: %w", origin, mine, err)
			}
			if len(ops) == 0 {
				break
			}
			n, err := c.store.ApplyRemote(ctx, ops)
			if err != nil {
				return err
			}
			c.metrics.pulled.Add(float64(n))
			c.metrics.pulledBytes.Add(float64(opsBytes(ops)))
		}
	}
	return nil
}

// snapshotFrom merges p's whole state: the way back for a node whose gap
// was already pruned from the peer's log.
func (c *Cluster) snapshotFrom(ctx context.Context, p *peer) error {
	c.log.Info("too far behind for the log: taking a snapshot", "peer", p.name)
	body, err := c.cfg.Transport.Snapshot(ctx, p.apiAddr())
	if err != nil {
		return fmt.Errorf("snapshot from %s: %w", p.name, err)
	}
	defer body.Close()
	counted := &countingReader{r: body}
	err = c.store.ApplySnapshot(ctx, counted)
	c.metrics.snapshots.Inc()
	c.metrics.pulledBytes.Add(float64(counted.n))
	if err != nil {
		return fmt.Errorf("snapshot from %s: %w", p.name, err)
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// pruneRound prunes the log and compacts the file when worth it.
func (c *Cluster) pruneRound() {
	if _, err := c.Prune(c.ctx); err != nil && c.ctx.Err() == nil {
		c.log.Warn("prune failed", "error", err)
	}
	c.maybeCompact()
}

// goneMember is a member seen leaving or dying, with what it was last
// known to hold.
type goneMember struct {
	Member
	vv    crdt.VersionVector // nil: never known
	since time.Time
}

// Prune drops the log entries that no member may still need: every live
// member has applied them, and so has every member that died (without
// leaving) less than DeadGrace ago, so that a restarting member catches up
// from the log instead of taking a snapshot of everything. A member whose
// version vector is not known holds pruning back. A node that has never
// seen another member prunes nothing: it cannot know what others lack.
// Past MaxLogBytes the dead no longer hold the log back (they will resync
// by snapshot), and a node alone prunes too.
func (c *Cluster) Prune(ctx context.Context) (int, error) {
	stable, ok := c.pruneFloor()
	if !ok {
		return 0, nil
	}
	return c.store.Prune(ctx, stable)
}

// pruneFloor returns the version vector the log may be pruned to, and false
// when nothing may be pruned.
func (c *Cluster) pruneFloor() (crdt.VersionVector, bool) {
	vvs := []crdt.VersionVector{c.store.VersionVector()}
	for _, p := range c.alivePeers() {
		vv := p.known()
		if vv == nil {
			return nil, false
		}
		vvs = append(vvs, vv)
	}
	over := c.store.LogBytes() > c.cfg.MaxLogBytes
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.peers) == 0 && len(c.gone) == 0 && !over {
		return nil, false
	}
	for _, g := range c.gone {
		if g.State != stateName(memberlist.StateDead) || over || time.Since(g.since) > c.cfg.DeadGrace {
			continue
		}
		if g.vv == nil {
			return nil, false
		}
		vvs = append(vvs, g.vv)
	}
	return crdt.Min(vvs...), true
}

// Compaction runs after pruning once at least half of a file of at least
// compactMinBytes is free.
const compactMinBytes = 64 << 20

func (c *Cluster) maybeCompact() {
	st, err := c.store.Stats()
	if err != nil || st.FileBytes < compactMinBytes || st.FreeBytes*2 < st.FileBytes {
		return
	}
	if _, _, err := c.store.Compact(); err != nil {
		c.log.Warn("compaction failed", "error", err)
	}
}

func opsBytes(ops []crdt.Op) int {
	n := 0
	for _, op := range ops {
		n += len(op.Key) + len(op.Value)
	}
	return n
}

func decodeMeta(b []byte) (meta, error) {
	var m meta
	err := cbor.Unmarshal(b, &m)
	return m, err
}
