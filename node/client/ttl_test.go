package client_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/testwait"
	"github.com/yzma/yzma/node/client"
)

// TestTTLAcrossThreeNodes: a version written with a TTL on one node shows
// on every replica until its expiry and on none after it; listings agree;
// a watcher sees the expiry as a delete; a key whose TTL a later write
// (without one) cleared stays.
func TestTTLAcrossThreeNodes(t *testing.T) {
	nodes := serveCluster(t, "a", "b", "c")
	a, b, c := nodes[0], nodes[1], nodes[2]
	w := startWatch(t, c, "ttl/", "")
	skip := waitWatching(t, c, w, "ttl/ready")

	const ttl = 3 * time.Second
	start := time.Now()
	if _, err := a.Put(ctx(t), "ttl/session", []byte("s"), "", client.WithTTL(ttl)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx(t), "ttl/kept", []byte("short"), "", client.WithTTL(ttl)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx(t), "ttl/kept", []byte("long"), ""); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "every replica shows the session", ttl, 10*time.Millisecond, func() bool {
		for _, n := range nodes {
			if v, err := n.Get(ctx(t), "ttl/session"); err != nil || string(v.Data) != "s" {
				return false
			}
		}
		return true
	})
	if time.Since(start) >= ttl {
		t.Skip("replication took longer than the TTL on this machine")
	}
	testwait.For(t, "every replica hides the expired session", 2*ttl, 20*time.Millisecond, func() bool {
		for _, n := range nodes {
			if _, err := n.Get(ctx(t), "ttl/session"); !errors.Is(err, client.ErrNotFound) {
				return false
			}
		}
		return true
	})
	for i, n := range nodes {
		page, err := n.List(ctx(t), "ttl/", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, e := range page.Keys {
			keys = append(keys, e.Key)
		}
		if len(keys) != 2 || keys[0] != "ttl/kept" || keys[1] != "ttl/ready" {
			t.Fatalf("node %d lists %q, want ttl/kept and ttl/ready", i, keys)
		}
		if v, err := n.Get(ctx(t), "ttl/kept"); err != nil || string(v.Data) != "long" {
			t.Fatalf("node %d: ttl/kept = %q, %v; want long", i, v.Data, err)
		}
	}
	testwait.For(t, "the watcher sees the expiry as a delete", 10*time.Second, 20*time.Millisecond, func() bool {
		evs := w.waitEvents(t, skip)
		for _, ev := range evs[skip:] {
			if ev.Kind == "delete" && ev.Key == "ttl/session" {
				return true
			}
		}
		return false
	})
	// c applies a's and b's writes in the order they reach it; the expiry
	// comes after the write it expires, and is the only delete.
	got := describe(w.waitEvents(t, skip)[skip:])
	put, del := strings.Index(got, "put ttl/session=s"), strings.Index(got, "delete ttl/session=")
	if put < 0 || del < put || strings.Count(got, "delete") != 1 || !strings.Contains(got, "put ttl/kept=long") {
		t.Fatalf("watched %q", got)
	}
}
