package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/testwait"
	"github.com/yzma/yzma/node/client"
)

// TestPartitionCutsNodes checks the fault layer end to end on real node
// processes: a node cut off by the rules files is seen as not alive by the
// others and gets no data; once the rules are cleared it rejoins and
// catches up.
func TestPartitionCutsNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node processes; skipped with -short")
	}
	c := newCluster(t, 3, t.TempDir())
	c.startAll()
	for _, nd := range c.nodes {
		if b, err := os.ReadFile(nd.logPath); err != nil || !strings.Contains(string(b), "TEST FAULT INJECTION IS ON") {
			t.Fatalf("%s did not warn that fault injection is on (%v)", nd.name, err)
		}
	}
	a, b, cut := c.nodes[0], c.nodes[1], c.nodes[2]

	n := &nemesis{c: c, counts: map[string]int{}}
	if err := n.partition([]int{0, 1}, []int{2}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.clearRules() })
	waitState(t, a, cut.name, "not alive", func(s string) bool { return s != "alive" })
	waitState(t, cut, a.name, "not alive", func(s string) bool { return s != "alive" })

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := a.client.Put(ctx, "cut/k", []byte("v"), "text/plain"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the write to reach the other side of a", 10*time.Second, 20*time.Millisecond, func() bool {
		_, err := b.client.Get(ctx, "cut/k")
		return err == nil
	})
	// Longer than an anti-entropy round (2 s): the cut node still lacks it.
	time.Sleep(2500 * time.Millisecond)
	if _, err := cut.client.Get(ctx, "cut/k"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("the write crossed the partition: %v", err)
	}

	if err := c.clearRules(); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the cut node to catch up", 60*time.Second, 50*time.Millisecond, func() bool {
		_, err := cut.client.Get(ctx, "cut/k")
		return err == nil
	})
	for _, nd := range c.nodes {
		for _, other := range c.nodes {
			waitState(t, nd, other.name, "alive", func(s string) bool { return s == "alive" })
		}
	}
	if ok, digests := c.converge(t, 30*time.Second); !ok {
		t.Fatalf("digests after the heal: %v", digests)
	}
}

// waitState waits until nd reports member name in a state that satisfies ok.
func waitState(t *testing.T, nd *testNode, name, what string, ok func(string) bool) {
	t.Helper()
	last := ""
	testwait.For(t, fmt.Sprintf("%s to see %s %s", nd.name, name, what), 30*time.Second, 50*time.Millisecond, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		ms, err := nd.client.Members(ctx)
		if err != nil {
			last = err.Error()
			return false
		}
		last = "not a member"
		for _, m := range ms {
			if m.Name == name {
				last = m.State
				return ok(m.State)
			}
		}
		return false
	}, func() string { return "last seen: " + last })
}
