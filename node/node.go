// Package node assembles one Yzma node from its parts: the durable replica
// (package store) and, with clustering, gossip membership and replication.
// The HTTP API (package httpapi) serves a *Node; cmd/node wires it from the
// configuration (package config).
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/yzma/yzma/node/cluster"
	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/store"
)

// Sentinel errors callers act on.
var (
	// ErrNotReady is returned by Ready while the node cannot serve yet.
	ErrNotReady = errors.New("node not ready: catching up with the cluster")
	// ErrLeft is returned by Ready once the node has left the cluster (in
	// this process or, recorded in its data file, before a restart): it
	// still serves reads but takes no writes, and Join refuses with it until
	// Rejoin. It is cluster.ErrLeft.
	ErrLeft = cluster.ErrLeft
	// ErrStandalone is returned by cluster operations on a node started
	// without clustering.
	ErrStandalone = errors.New("node runs without clustering")
	// ErrBackupIncomplete: a backup could not first gather what the live
	// members hold.
	ErrBackupIncomplete = errors.New("backup would miss writes of a live member")
)

// Options configures a Node.
type Options struct {
	DBPath     string // the bbolt data file
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics
	// Cluster configures membership and replication; nil runs the node
	// standalone (no gossip).
	Cluster *cluster.Config
	// MaxQueuedWrites and MaxQueuedBytes bound the writes waiting for a
	// commit; past them writes are refused with store.ErrOverloaded
	// (zero: the store's defaults).
	MaxQueuedWrites int
	MaxQueuedBytes  int64
	// FeedChanges bounds the changes kept for watchers to resume from
	// (store.Options.FeedChanges).
	FeedChanges int
	// ExpireInterval is how often expired versions are announced and
	// swept (store.Expire); zero means every second.
	ExpireInterval time.Duration
}

// Node is one running Yzma node.
type Node struct {
	store     *store.Store
	cluster   *cluster.Cluster // nil when standalone
	log       *slog.Logger
	stop      chan struct{}
	closeOnce sync.Once
	done      chan struct{} // closed when the expiry loop has ended
}

// Open opens the node's data file and starts it.
func Open(opts Options) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := store.Open(opts.DBPath, store.Options{Logger: opts.Logger, Registerer: opts.Registerer,
		MaxQueuedWrites: opts.MaxQueuedWrites, MaxQueuedBytes: opts.MaxQueuedBytes, FeedChanges: opts.FeedChanges})
	if err != nil {
		return nil, fmt.Errorf("open node: %w", err)
	}
	n := &Node{store: st, log: opts.Logger}
	if opts.Cluster != nil {
		cfg := *opts.Cluster
		cfg.Logger, cfg.Registerer = opts.Logger, opts.Registerer
		if n.cluster, err = cluster.New(cfg, st); err != nil {
			_ = st.Close()
			return nil, fmt.Errorf("open node: %w", err)
		}
	}
	if opts.ExpireInterval <= 0 {
		opts.ExpireInterval = time.Second
	}
	n.stop, n.done = make(chan struct{}), make(chan struct{})
	go n.expireLoop(opts.ExpireInterval)
	return n, nil
}

// expireLoop announces and sweeps expired versions (store.Expire): a
// version is removed once every member has it, which the cluster knows;
// standalone, once this node has it.
func (n *Node) expireLoop(every time.Duration) {
	defer close(n.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if _, err := n.store.Expire(context.Background(), n.stable); err != nil && !errors.Is(err, store.ErrClosed) {
			n.log.Warn("expire failed", "err", err)
		}
	}
}

// stable is what every member has applied: the cluster's stable vector
// (nil while not known: expiries are announced, nothing removed), or,
// standalone, this node's own.
func (n *Node) stable() crdt.VersionVector {
	if n.cluster == nil {
		return n.store.VersionVector()
	}
	if vv, ok := n.cluster.Stable(); ok {
		return vv
	}
	return nil
}

// Close stops the node after queued writes are durable. It does not hand
// data off (a restart is not a leave): see Leave.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { close(n.stop) })
	<-n.done
	var err error
	if n.cluster != nil {
		err = n.cluster.Close()
	}
	return errors.Join(err, n.store.Close())
}

// Store is the node's replica.
func (n *Node) Store() *store.Store { return n.store }

// ID is the node's persisted identity.
func (n *Node) ID() crdt.NodeID { return n.store.NodeID() }

// Origin is the node part of the dots this process mints (new at every
// start; see package store).
func (n *Node) Origin() crdt.NodeID { return n.store.Origin() }

// Ready reports nil when the node can serve reads and writes: standalone, or
// caught up with the cluster it joined and not left it.
func (n *Node) Ready() error {
	switch {
	case n.cluster == nil:
	case n.cluster.Left():
		return ErrLeft
	case !n.cluster.Ready():
		return ErrNotReady
	}
	return nil
}

// Get reads a key; store.ErrNotFound when it has no live version.
func (n *Node) Get(key []byte) (store.Item, error) { return n.store.Get(key) }

// Put writes a value, superseding observed (nil: all this node holds).
// While the node leaves the cluster, and once it has left, it refuses
// writes with cluster.ErrLeaving.
func (n *Node) Put(ctx context.Context, key, value []byte, contentType string, observed *crdt.Context) (crdt.Op, error) {
	return n.PutExpiring(ctx, key, value, contentType, observed, 0)
}

// PutExpiring is Put of a version that expires ttl after it is written
// (zero: never); see store.PutExpiring.
func (n *Node) PutExpiring(ctx context.Context, key, value []byte, contentType string, observed *crdt.Context, ttl time.Duration) (crdt.Op, error) {
	if err := n.beginWrite(); err != nil {
		return crdt.Op{}, err
	}
	defer n.endWrite()
	return n.store.PutExpiring(ctx, key, value, contentType, observed, ttl)
}

// Delete removes observed (nil: all this node holds); store.ErrNotFound when
// there is nothing to delete and no context was given.
func (n *Node) Delete(ctx context.Context, key []byte, observed *crdt.Context) (crdt.Op, error) {
	if err := n.beginWrite(); err != nil {
		return crdt.Op{}, err
	}
	defer n.endWrite()
	return n.store.Delete(ctx, key, observed)
}

// beginWrite admits a local write: refused while the node catches up
// (ErrNotReady: a write supersedes what the node holds of its key, and it
// does not hold everything yet) or leaves.
func (n *Node) beginWrite() error {
	if n.cluster == nil {
		return nil
	}
	if !n.cluster.Ready() && !n.cluster.Left() {
		return ErrNotReady
	}
	return n.cluster.BeginWrite()
}

func (n *Node) endWrite() {
	if n.cluster != nil {
		n.cluster.EndWrite()
	}
}

// Backup spools a point-in-time backup of the node's data; see
// store.Backup. On a cluster, the node first pulls from every live member
// what it lacks, so the backup holds every write any of them had
// acknowledged when the backup was asked for (a member that is down is
// not waited for; one that is up but fails to answer fails the backup).
// The caller closes it.
func (n *Node) Backup(ctx context.Context) (*store.Backup, error) {
	if n.cluster != nil {
		if err := n.cluster.CatchUp(ctx); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBackupIncomplete, err)
		}
	}
	return n.store.Backup()
}

// Restore merges a backup into the node, which must hold nothing yet
// (store.ErrNotEmpty); see store.Restore. On a cluster, the other members
// take the restored data from this node as they take any they lack (the
// log cannot serve it, so they merge a snapshot). Refused, like a write,
// while the node catches up or leaves.
func (n *Node) Restore(ctx context.Context, r io.Reader, maxBytes int64) (store.BackupInfo, error) {
	if err := n.beginWrite(); err != nil {
		return store.BackupInfo{}, err
	}
	defer n.endWrite()
	return n.store.Restore(ctx, r, maxBytes)
}

// List lists live keys in byte order; see store.List.
func (n *Node) List(prefix, after []byte, limit int) ([]store.Entry, []byte, error) {
	return n.store.List(prefix, after, limit)
}

// ChangesSince reads the change feed after position after; see
// store.ChangesSince. Positions are this process's: Origin names them.
func (n *Node) ChangesSince(after uint64, limit int) ([]store.Change, <-chan struct{}, error) {
	return n.store.ChangesSince(after, limit)
}

// FeedPosition is the change feed's last position.
func (n *Node) FeedPosition() uint64 { return n.store.FeedPosition() }

// States lists live keys under prefix with their state; see store.States.
func (n *Node) States(prefix, after []byte, limit int) ([]store.Change, error) {
	return n.store.States(prefix, after, limit)
}

// Digest is a hash of the node's whole key state (every live version of
// every key): replicas holding the same data have the same digest.
func (n *Node) Digest() (string, error) { return n.store.Digest() }

// Join joins the cluster through the configured seeds plus peers (gossip
// host:port addresses) and catches up before the node reports ready. A
// node that has left refuses with ErrLeft: see Rejoin.
func (n *Node) Join(ctx context.Context, peers ...string) error {
	if n.cluster == nil {
		return ErrStandalone
	}
	return n.cluster.Join(ctx, peers...)
}

// Rejoin makes a node that left the cluster a member again: it clears the
// record of the leave in its data file, joins through its configured seeds
// and catches up before it reports ready and takes writes. On a node that
// has not left it does nothing. See cluster.Cluster.Rejoin.
func (n *Node) Rejoin(ctx context.Context) error {
	if n.cluster == nil {
		return ErrStandalone
	}
	return n.cluster.Rejoin(ctx)
}

// SetAPIAddr tells peers where this node's HTTP API listens (no-op when
// standalone).
func (n *Node) SetAPIAddr(addr string) error {
	if n.cluster == nil {
		return nil
	}
	return n.cluster.SetAPIAddr(addr)
}

// Leave hands this node's data off and leaves the cluster, recording that
// in its data file so that it stays out across restarts; on a node that
// left, it answers the same result and announces the leave again. See
// cluster.Cluster.Leave.
func (n *Node) Leave(ctx context.Context) (*cluster.LeaveResult, error) {
	if n.cluster == nil {
		return nil, ErrStandalone
	}
	return n.cluster.Leave(ctx)
}

// Members lists the cluster's members as this node sees them.
func (n *Node) Members() ([]cluster.Member, error) {
	if n.cluster == nil {
		return nil, ErrStandalone
	}
	return n.cluster.Members(), nil
}

// PeerHandler serves the replication channel peers use (nil when
// standalone); mount it under the API's authentication at /internal/.
func (n *Node) PeerHandler() http.Handler {
	if n.cluster == nil {
		return nil
	}
	return n.cluster.Handler()
}
