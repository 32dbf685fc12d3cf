package cluster_test

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/yzma/yzma/internal/testwait"
	"github.com/yzma/yzma/node/cluster"
	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/store"
)

// countingTransport counts what gossip sends through it.
type countingTransport struct {
	memberlist.NodeAwareTransport
	sent atomic.Int64
}

func (t *countingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	t.sent.Add(1)
	return t.NodeAwareTransport.WriteToAddress(b, a)
}

func (t *countingTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	t.sent.Add(1)
	return t.NodeAwareTransport.DialAddressTimeout(a, timeout)
}

// noData is a data channel with nothing to exchange.
type noData struct{}

func (noData) VersionVector(context.Context, cluster.Endpoint) (crdt.VersionVector, error) {
	return crdt.VersionVector{}, nil
}

func (noData) Push(context.Context, cluster.Endpoint, []crdt.Op) (crdt.VersionVector, error) {
	return crdt.VersionVector{}, nil
}

func (noData) Pull(context.Context, cluster.Endpoint, crdt.NodeID, uint64, int, int) ([]crdt.Op, error) {
	return nil, nil
}

func (noData) Snapshot(context.Context, cluster.Endpoint) (io.ReadCloser, error) {
	return nil, errors.New("no snapshots here")
}

// TestWrapGossip checks that a member gossips through Config.WrapGossip's
// transport, on the port the kernel picked when BindPort is 0.
func TestWrapGossip(t *testing.T) {
	start := func(name string, wrap func(memberlist.NodeAwareTransport) memberlist.NodeAwareTransport) *cluster.Cluster {
		t.Helper()
		st, err := store.Open(filepath.Join(t.TempDir(), name+".db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := cluster.New(cluster.Config{Name: name, BindAddr: "127.0.0.1", BindPort: 0, Transport: noData{}, WrapGossip: wrap}, st)
		if err != nil {
			_ = st.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = c.Close()
			_ = st.Close()
		})
		return c
	}
	var wrapped *countingTransport
	a := start("wrap-a", func(t memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
		wrapped = &countingTransport{NodeAwareTransport: t}
		return wrapped
	})
	if wrapped == nil {
		t.Fatal("WrapGossip was not called")
	}
	b := start("wrap-b", nil)
	addr := a.Members()[0].Addr
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("a advertises %s: the kernel's port was not taken", addr)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := b.Join(ctx, addr); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "a to see b alive", 10*time.Second, 10*time.Millisecond, func() bool {
		for _, m := range a.Members() {
			if m.Name == "wrap-b" && m.State == "alive" {
				return true
			}
		}
		return false
	})
	// a probes b through its transport.
	testwait.For(t, "a to gossip through the wrapped transport", 10*time.Second, 10*time.Millisecond,
		func() bool { return wrapped.sent.Load() > 0 })
}
