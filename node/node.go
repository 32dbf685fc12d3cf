// Package node assembles one Yzma node from its parts: the durable replica
// (package store) and, with clustering, gossip membership and replication.
// The HTTP API (package httpapi) serves a *Node; cmd/node wires it from the
// configuration (package config).
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/store"
)

// ErrNotReady is returned by Ready while the node cannot serve yet.
var ErrNotReady = errors.New("node not ready")

// Options configures a Node.
type Options struct {
	DBPath     string // the bbolt data file
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics
}

// Node is one running Yzma node.
type Node struct {
	store *store.Store
	log   *slog.Logger
}

// Open opens the node's data file and starts it.
func Open(opts Options) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := store.Open(opts.DBPath, store.Options{Logger: opts.Logger, Registerer: opts.Registerer})
	if err != nil {
		return nil, fmt.Errorf("open node: %w", err)
	}
	return &Node{store: st, log: opts.Logger}, nil
}

// Close stops the node after queued writes are durable.
func (n *Node) Close() error { return n.store.Close() }

// ID is the node's persisted identity.
func (n *Node) ID() crdt.NodeID { return n.store.NodeID() }

// Ready reports nil when the node can serve reads and writes.
func (n *Node) Ready() error { return nil }

// Get reads a key; store.ErrNotFound when it has no live version.
func (n *Node) Get(key []byte) (store.Item, error) { return n.store.Get(key) }

// Put writes a value, superseding observed (nil: all this node holds).
func (n *Node) Put(ctx context.Context, key, value []byte, contentType string, observed *crdt.Context) (crdt.Op, error) {
	return n.store.Put(ctx, key, value, contentType, observed)
}

// Delete removes observed (nil: all this node holds); store.ErrNotFound when
// there is nothing to delete and no context was given.
func (n *Node) Delete(ctx context.Context, key []byte, observed *crdt.Context) (crdt.Op, error) {
	return n.store.Delete(ctx, key, observed)
}

// List lists live keys in byte order; see store.List.
func (n *Node) List(prefix, after []byte, limit int) ([]store.Entry, []byte, error) {
	return n.store.List(prefix, after, limit)
}
