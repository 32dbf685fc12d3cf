package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
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
	// ErrLeft: the node has handed its data off and left (in this process
	// or, recorded in its data file, before a restart). It stays out until
	// Rejoin; Join refuses with it.
	ErrLeft = errors.New("node has left the cluster")
	// ErrClosed: the cluster was closed.
	ErrClosed = errors.New("cluster closed")
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
	// APIName is the name the API's certificate holds; TLS says the API
	// speaks HTTPS (members of older versions announce neither: plain
	// HTTP, as they serve).
	APIName string `cbor:"5,keyasint,omitempty"`
	TLS     bool   `cbor:"6,keyasint,omitempty"`
	// Zstd: the member takes zstd-compressed pushes (compress.go).
	Zstd bool `cbor:"7,keyasint,omitempty"`
}

func (m meta) endpoint() Endpoint {
	return Endpoint{Addr: m.API, Name: m.APIName, TLS: m.TLS, Zstd: m.Zstd}
}

// Cluster is this node's membership and replication.
type Cluster struct {
	cfg     Config
	store   *store.Store
	log     *slog.Logger
	metrics *metrics
	wg      sync.WaitGroup // every goroutine of every session

	// sess is the running gossip session; nil while a node that left stays
	// out of gossip after a restart. sessMu serializes replacing, leaving
	// and closing it (memberlist panics on a Leave after its Shutdown).
	sess     atomic.Pointer[session]
	sessMu   sync.Mutex
	closed   bool // guarded by sessMu
	bindPort int  // guarded by sessMu: the gossip port the first session bound

	keyring *memberlist.Keyring // nil: gossip not encrypted; shared by the sessions

	mu    sync.Mutex
	peers map[string]*peer      // live members by name, this node excluded
	gone  map[string]goneMember // members seen leaving or dying

	ready     atomic.Bool
	gate      sync.RWMutex // writes hold it shared; Leave takes it to stop them
	leaving   bool         // guarded by gate
	leaveMu   sync.Mutex   // one Leave or Rejoin at a time
	left      *LeaveResult // guarded by leaveMu
	allPush   atomic.Bool  // senders push every origin (during a leave)
	handedOff atomic.Bool  // gossiped: this member leaves for good
}

// session is one memberlist instance and the replication loops that run
// beside it. A memberlist that has left can never speak again, so a rejoin
// and a repeated leave each start a new session on the same address; the
// old one ends first.
type session struct {
	ml *memberlist.Memberlist
	// ctx ends when the session stops replicating: once the node left (its
	// memberlist keeps answering that it left), or when the session ends.
	// A session that only announces a leave never replicates.
	ctx    context.Context
	cancel context.CancelFunc
	ended  atomic.Bool // replaced or closed: its late events are ignored
}

func (s *session) end() {
	s.ended.Store(true)
	s.cancel()
}

// New starts gossip on cfg's addresses and the replication loops. It does
// not join anyone: call Join. A node whose data file records that it left
// (see Leave) starts out of gossip instead, not ready and refusing writes,
// until Rejoin.
func New(cfg Config, st *store.Store) (*Cluster, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, store: st, log: cfg.Logger.With("member", cfg.Name), peers: map[string]*peer{}, gone: map[string]goneMember{}}
	if cfg.GossipKeys != nil {
		keys := cfg.GossipKeys.Get()
		kr, err := memberlist.NewKeyring(keys, keys[0])
		if err != nil {
			return nil, fmt.Errorf("cluster: gossip keys: %w", err)
		}
		c.keyring = kr
	}
	c.metrics = newMetrics(c, cfg.Registerer)
	if mark, ok := st.Left(); ok {
		c.left = &LeaveResult{VersionVector: mark.VersionVector, Peers: mark.Peers}
		c.leaving = true
		c.handedOff.Store(true)
		c.log.Warn("this node has left its cluster (its data file records the hand-off): it stays out of gossip, "+
			"takes no writes and is not ready; reads are served. To make it a member again: "+
			"POST /cluster/join without peers (yzmactl rejoin)",
			"left_at", mark.At, "handed_off_to", slices.Sorted(maps.Keys(mark.Peers)))
		return c, nil
	}
	if _, err := c.startSession(true); err != nil {
		c.metrics.unregister()
		return nil, err
	}
	return c, nil
}

// startSession ends the running session, if any, and starts a new one on
// the same gossip address; with replicate, the replication loops start
// too. The new memberlist has joined no one.
func (c *Cluster) startSession(replicate bool) (*session, error) {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if old := c.sess.Swap(nil); old != nil {
		old.end()
		if err := old.ml.Shutdown(); err != nil {
			c.log.Warn("stopping the previous gossip session failed", "error", err)
		}
	}
	s := &session{}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	ml, err := c.createMemberlist(s)
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("start gossip: %w", err)
	}
	s.ml = ml
	if replicate {
		c.wg.Add(2)
		go c.every(s.ctx, c.cfg.AntiEntropyInterval, c.antiEntropyRound)
		go c.every(s.ctx, c.cfg.PruneInterval, c.pruneRound)
		if c.keyring != nil {
			c.wg.Add(1)
			go c.every(s.ctx, keyringInterval, func(context.Context) { c.syncKeyring() })
		}
		if len(c.cfg.Seeds) > 0 || c.cfg.SeedDNS != "" {
			c.wg.Add(1)
			go c.every(s.ctx, c.cfg.ReseedInterval, func(context.Context) { c.reseedRound(s) })
		}
	} else {
		s.cancel()
	}
	c.sess.Store(s)
	return s, nil
}

// createMemberlist starts a memberlist for s on the configured address and
// on the port the first one bound (the configuration may ask for any free
// port), so that members know a new session as the same member.
func (c *Cluster) createMemberlist(s *session) (*memberlist.Memberlist, error) {
	cfg := c.cfg
	mc := cfg.Memberlist()
	mc.Name = cfg.Name
	mc.BindAddr, mc.BindPort = cfg.BindAddr, cfg.BindPort
	if c.bindPort != 0 {
		mc.BindPort = c.bindPort
	}
	mc.AdvertiseAddr, mc.AdvertisePort = cfg.AdvertiseAddr, cfg.AdvertisePort
	mc.Keyring = c.keyring
	mc.Delegate = (*delegate)(c)
	mc.Events = &events{c: c, s: s}
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
			return nil, err
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
		return nil, err
	}
	c.bindPort = mc.BindPort // memberlist sets it when it picked the port
	return ml, nil
}

// gossip returns the running session; nil while a node that left stays out
// of gossip.
func (c *Cluster) gossip() *session { return c.sess.Load() }

// gossipAddr is this member's gossip address.
func (c *Cluster) gossipAddr() string {
	if s := c.gossip(); s != nil {
		return s.ml.LocalNode().Address()
	}
	host, port := c.cfg.AdvertiseAddr, c.cfg.AdvertisePort
	if host == "" {
		host = c.cfg.BindAddr
	}
	if port == 0 {
		port = c.cfg.BindPort
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// track runs fn in a goroutine Close waits for; false once closed.
func (c *Cluster) track(fn func()) bool {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
	return true
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
// date. A node that has left refuses with ErrLeft: only Rejoin brings it
// back.
func (c *Cluster) Join(ctx context.Context, extra ...string) error {
	s := c.gossip()
	if c.handedOff.Load() || s == nil {
		return fmt.Errorf("%w: it stays out until Rejoin", ErrLeft)
	}
	return c.join(ctx, s, extra)
}

func (c *Cluster) join(ctx context.Context, s *session, extra []string) error {
	deadline := time.Now().Add(c.cfg.JoinTimeout)
	for {
		seeds := c.seeds(ctx, s, extra)
		if len(seeds) == 0 {
			c.log.Info("no seeds: starting alone")
			c.ready.Store(true)
			return nil
		}
		n, err := s.ml.Join(seeds)
		if n > 0 {
			c.log.Info("joined cluster", "seeds", seeds, "contacted", n)
			return c.catchUpRetrying(ctx, s)
		}
		if time.Now().After(deadline) {
			c.log.Warn("no seed answered: starting alone", "seeds", seeds, "error", err)
			c.ready.Store(true)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.ctx.Done():
			return s.ctx.Err()
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
	s := c.gossip()
	if s == nil || c.handedOff.Load() {
		return nil // nothing to announce: the node is out of the cluster
	}
	if err := s.ml.UpdateNode(time.Second); err != nil {
		return fmt.Errorf("announce API address: %w", err)
	}
	return nil
}

func (c *Cluster) apiAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.APIAddr
}

// Ready reports whether the node has caught up after joining and has not
// left since.
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
	var err error
	c.sessMu.Lock()
	c.closed = true
	if s := c.gossip(); s != nil {
		s.end()
		err = s.ml.Shutdown()
	}
	c.sessMu.Unlock()
	c.dropPeers()
	c.wg.Wait()
	c.metrics.unregister()
	return err
}

// dropPeers stops every peer's sender and forgets the live peers.
func (c *Cluster) dropPeers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, p := range c.peers {
		p.stop()
		delete(c.peers, name)
	}
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

// every runs fn each interval until ctx ends.
func (c *Cluster) every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	defer c.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// antiEntropyRound pulls what a random live peer has and this node lacks.
func (c *Cluster) antiEntropyRound(ctx context.Context) {
	peers := c.alivePeers()
	if len(peers) == 0 {
		return
	}
	p := peers[rand.IntN(len(peers))]
	if err := c.pullFrom(ctx, p); err != nil && ctx.Err() == nil {
		c.log.Debug("anti-entropy round failed", "peer", p.name, "error", err)
	}
}

// catchUpRetrying catches up until it succeeds, then reports ready.
func (c *Cluster) catchUpRetrying(ctx context.Context, s *session) error {
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
		case <-s.ctx.Done():
			return s.ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// CatchUp pulls from every live peer what it holds and this node lacks:
// once it returns nil, this node has every write those peers had
// acknowledged when it began. A peer it cannot pull from fails it.
func (c *Cluster) CatchUp(ctx context.Context) error { return c.catchUp(ctx) }

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
	ep := p.endpoint()
	theirs, err := c.cfg.Transport.VersionVector(ctx, ep)
	if err != nil {
		return err
	}
	p.observe(theirs)
	if blank(c.store.VersionVector()) && total(theirs) >= blankSnapshotOps {
		// A blank node (a new member, a lost volume) takes the peer's
		// state at once: streaming key states in key order costs far less
		// on both sides than replaying every operation (no log seeks on the
		// sender, no log entries written here), and the few operations
		// after the snapshot are pulled below as usual.
		if err := c.snapshotFrom(ctx, p, "this node is blank"); err != nil {
			return err
		}
	}
	for origin, upTo := range theirs {
		for mine := c.store.VersionVector()[origin]; mine < upTo; mine = c.store.VersionVector()[origin] {
			ops, err := c.cfg.Transport.Pull(ctx, ep, origin, mine, batchOps, batchBytes)
			if errors.Is(err, store.ErrPruned) {
				if err := c.snapshotFrom(ctx, p, "too far behind for the log"); err != nil {
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
			if ops, err = c.checkPulled(ctx, p, origin, mine, upTo, ops); err != nil {
				c.log.Warn("rejected operations pulled from a peer", "peer", p.name, "api", ep.Addr, "error", err)
				return err
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

// blankSnapshotOps is the size of a peer's history from which a blank
// node takes a snapshot rather than the operations (pullFrom).
const blankSnapshotOps = 10_000

// blank reports whether vv holds no operation at all.
func blank(vv crdt.VersionVector) bool {
	for _, c := range vv {
		if c > 0 {
			return false
		}
	}
	return true
}

// total is the number of operations vv covers.
func total(vv crdt.VersionVector) uint64 {
	var n uint64
	for _, c := range vv {
		n += c
	}
	return n
}

// snapshotFrom merges p's whole state: the way back for a node whose gap
// was already pruned from the peer's log, and the way in for a blank one.
func (c *Cluster) snapshotFrom(ctx context.Context, p *peer, why string) error {
	c.log.Info("taking a snapshot", "peer", p.name, "why", why)
	body, err := c.cfg.Transport.Snapshot(ctx, p.endpoint())
	if err != nil {
		return fmt.Errorf("snapshot from %s: %w", p.name, err)
	}
	defer body.Close()
	counted := &countingReader{r: body}
	err = c.store.ApplySnapshotChecked(ctx, counted, func(vv crdt.VersionVector) error {
		return c.checkClaims(ctx, vv, p, "")
	})
	if errors.Is(err, store.ErrBadSnapshot) {
		c.log.Warn("rejected a peer's snapshot", "peer", p.name, "error", err)
	}
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
func (c *Cluster) pruneRound(ctx context.Context) {
	if _, err := c.Prune(ctx); err != nil && ctx.Err() == nil {
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

// Stable is the version vector every member that may still need them has
// applied (what Prune prunes the log to), and false when not known: what
// is at or below it, no member will ask for again.
func (c *Cluster) Stable() (crdt.VersionVector, bool) { return c.pruneFloor() }

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
