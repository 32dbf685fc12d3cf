package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/yzma/yzma/node/faultnet"
	"github.com/yzma/yzma/node/store"
)

// stateOf is how tn sees member name: alive, suspect, left, dead or absent.
func stateOf(tn *testNode, name string) string {
	for _, m := range tn.c.Members() {
		if m.Name == name {
			return m.State
		}
	}
	return "absent"
}

// watchStates records every state the observers report for member name
// until the returned function is called, which returns them in order of
// first sight.
func watchStates(name string, observers ...*testNode) func() []string {
	var mu sync.Mutex
	var seen []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			for _, o := range observers {
				s := stateOf(o, name)
				mu.Lock()
				if !slices.Contains(seen, s) {
					seen = append(seen, s)
				}
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() []string {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}

// checkStaysOut checks that tn, which left, refuses writes, is not ready
// and lists itself as left.
func checkStaysOut(t *testing.T, tn *testNode) {
	t.Helper()
	if !tn.c.Left() {
		t.Fatalf("%s does not report that it left", tn.name)
	}
	if err := tn.c.BeginWrite(); !errors.Is(err, ErrLeaving) {
		if err == nil {
			tn.c.EndWrite()
		}
		t.Fatalf("write on %s after it left: %v, want ErrLeaving", tn.name, err)
	}
	if tn.c.Ready() {
		t.Fatalf("%s reports ready after it left", tn.name)
	}
	if s := stateOf(tn, tn.name); s != "left" {
		t.Fatalf("%s lists itself as %s, want left", tn.name, s)
	}
}

// TestLeftNodeStaysOutAcrossRestartUntilRejoin: a member that left and is
// restarted on its data file stays out of the cluster, takes no writes, is
// not ready and serves its data; a repeated leave answers the same result
// and keeps it out; a rejoin makes it a member that caught up and takes
// writes.
func TestLeftNodeStaysOutAcrossRestartUntilRejoin(t *testing.T) {
	ctx := t.Context()
	net := newTestNet(t)
	nodes := net.startCluster(3)
	a, b, l := nodes[0], nodes[1], nodes[2]
	for i := range 50 {
		put(t, l, fmt.Sprint("from-leaver-", i), "v")
	}
	res, err := l.c.Leave(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the others see the leaver as left", func() bool {
		return stateOf(a, l.name) == "left" && stateOf(b, l.name) == "left"
	})

	// The process restarts before its pod is deleted.
	l.stop()
	var logs logSink
	l = net.startNodeWith(l.name, 12, l.dbPath, func(c *Config) {
		c.Seeds = []string{a.gossip()}
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	checkStaysOut(t, l)
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "has left its cluster") ||
		!strings.Contains(out, "POST /cluster/join without peers") {
		t.Fatalf("the restarted node that left does not say so at start, nor how to rejoin:\n%s", out)
	}
	if l.c.gossip() != nil {
		t.Fatal("the restarted node that left runs gossip")
	}
	if err := l.c.Join(ctx); !errors.Is(err, ErrLeft) {
		t.Fatalf("Join on the restarted node that left: %v, want ErrLeft", err)
	}
	for i := range 50 {
		if v, _ := get(t, l, fmt.Sprint("from-leaver-", i)); v != "v" {
			t.Fatalf("the restarted node that left reads from-leaver-%d as %q", i, v)
		}
	}
	// The others go on without it, and do not take it back.
	for i := range 20 {
		put(t, nodes[i%2], fmt.Sprint("meanwhile-", i), "v")
	}
	waitFor(t, 10*time.Second, "a and b converge", func() bool { return converged(t, nodes[:2]) })
	for _, o := range nodes[:2] {
		if s := stateOf(o, l.name); s != "left" {
			t.Fatalf("%s lists the restarted node that left as %s, want left", o.name, s)
		}
	}
	if v, _ := get(t, l, "meanwhile-0"); v != "<absent>" {
		t.Fatalf("the node that left received a write made after it left: %q", v)
	}

	// A repeated leave answers what was handed off, announces it again and
	// never makes the node a member.
	watch := watchStates(l.name, a, b)
	again, err := l.c.Leave(ctx)
	seen := watch()
	if err != nil {
		t.Fatalf("repeated leave after a restart: %v", err)
	}
	if !again.VersionVector.Dominates(res.VersionVector) || !res.VersionVector.Dominates(again.VersionVector) ||
		!slices.Equal(slices.Sorted(maps.Keys(again.Peers)), slices.Sorted(maps.Keys(res.Peers))) {
		t.Fatalf("repeated leave after a restart answered %+v, want %+v", again, res)
	}
	if !slices.Equal(seen, []string{"left"}) {
		t.Fatalf("during the repeated leave the others listed the node as %v, want only left", seen)
	}
	checkStaysOut(t, l)

	// Rejoin: alive again for the others, caught up before it is ready.
	if err := l.c.Rejoin(ctx); err != nil {
		t.Fatal(err)
	}
	if l.c.Left() || !l.c.Ready() {
		t.Fatalf("after Rejoin: left %v, ready %v; want a ready member", l.c.Left(), l.c.Ready())
	}
	if _, ok := l.st.Left(); ok {
		t.Fatal("the data file still records the leave after Rejoin")
	}
	for i := range 20 {
		if v, _ := get(t, l, fmt.Sprint("meanwhile-", i)); v != "v" {
			t.Fatalf("ready after Rejoin without meanwhile-%d (%q)", i, v)
		}
	}
	waitFor(t, 10*time.Second, "the others see the rejoined node alive", func() bool {
		return stateOf(a, l.name) == "alive" && stateOf(b, l.name) == "alive"
	})
	put(t, l, "after-rejoin", "v")
	nodes[2] = l
	waitFor(t, 10*time.Second, "convergence after the rejoin", func() bool { return converged(t, nodes) })
	if err := l.c.Rejoin(ctx); err != nil { // a member already: nothing to do
		t.Fatalf("Rejoin on a member: %v", err)
	}
	if !l.c.Ready() || stateOf(a, l.name) != "alive" {
		t.Fatal("a Rejoin on a member changed it")
	}
}

// TestRepeatedLeaveReannouncesToMembersThatMissedIt: the others missed the
// leave's announcement (the leaver's gossip was cut right before it
// left), so they see the leaver die; a repeated leave, gossip restored,
// turns it into left for them, without its ever counting as alive.
func TestRepeatedLeaveReannouncesToMembersThatMissedIt(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "gossip-rules")
	rules := faultnet.NewRules(rulesPath)
	net := newTestNet(t)
	a := net.startNode("node-0", 10, filepath.Join(dir, "0.db"))
	b := net.startNode("node-1", 11, filepath.Join(dir, "1.db"), a.gossip())
	l := net.startNodeWith("node-2", 12, filepath.Join(dir, "2.db"), func(c *Config) {
		c.Seeds = []string{a.gossip(), b.gossip()}
		c.WrapGossip = func(nt memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
			return faultnet.WrapTransport(nt, rules)
		}
	})
	nodes := []*testNode{a, b, l}
	waitFor(t, 10*time.Second, "every member sees every other", func() bool {
		return len(a.c.alivePeers()) == 2 && len(b.c.alivePeers()) == 2 && len(l.c.alivePeers()) == 2
	})
	for i := range 20 {
		put(t, l, fmt.Sprint("from-leaver-", i), "v")
	}
	// Cut the leaver's gossip (the data channel stays): what it sends is
	// lost, and streams the others open to it (from 127.0.0.1 on loopback)
	// are closed.
	setRules := func(ips ...string) {
		t.Helper()
		if err := faultnet.WriteRules(rulesPath, ips); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the gossip rules to apply", func() bool {
			return len(rules.List()) == len(ips) && rules.BlockedAddr("127.0.0.1:1") == (len(ips) > 0)
		})
	}
	setRules("127.0.0.1", "127.0.0.10", "127.0.0.11")
	if _, err := l.c.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the others, having missed the leave, see the leaver dead", func() bool {
		return stateOf(a, l.name) == "dead" && stateOf(b, l.name) == "dead"
	})
	for _, o := range nodes[:2] {
		for i := range 20 {
			if v, _ := get(t, o, fmt.Sprint("from-leaver-", i)); v != "v" {
				t.Fatalf("%s lacks from-leaver-%d", o.name, i)
			}
		}
	}
	setRules()
	watch := watchStates(l.name, a, b)
	if _, err := l.c.Leave(ctx); err != nil {
		t.Fatalf("repeated leave: %v", err)
	}
	waitFor(t, 10*time.Second, "the others see the leaver as left", func() bool {
		return stateOf(a, l.name) == "left" && stateOf(b, l.name) == "left"
	})
	seen := watch()
	if slices.Contains(seen, "alive") || slices.Contains(seen, "suspect") {
		t.Fatalf("during the repeated leave the others listed the leaver as %v; it must never count as alive", seen)
	}
	t.Logf("the others listed the leaver as %v", seen)
	checkStaysOut(t, l)
	// Left, it no longer holds the others' log back as a dead member would
	// (for DeadGrace): once b has it, a write is pruned from a's log.
	put(t, a, "after", "v")
	waitFor(t, 10*time.Second, "a prunes its whole log", func() bool {
		_, err := a.c.Prune(ctx)
		st, _ := a.st.Stats()
		return err == nil && st.LogOps == 0
	})
}

// TestLeaveNotRecordedStaysAMember: when the data file cannot record the
// leave, the leave fails before announcing anything, and the node stays a
// member that takes writes.
func TestLeaveNotRecordedStaysAMember(t *testing.T) {
	net := newTestNet(t)
	nodes := net.startCluster(2)
	l := nodes[1]
	put(t, l, "k", "v")
	waitFor(t, 10*time.Second, "the peer holds k", func() bool { return converged(t, nodes) })
	// The hand-off is proven (the peer holds everything) but the record
	// cannot be written: the data file is closed under the cluster.
	if err := l.st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.c.Leave(t.Context()); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("leave that cannot be recorded: %v, want store.ErrClosed", err)
	}
	if l.c.Left() || l.c.gossip().ctx.Err() != nil {
		t.Fatal("a leave that was not recorded left")
	}
	if err := l.c.BeginWrite(); err != nil {
		t.Fatalf("write after a failed leave: %v", err)
	}
	l.c.EndWrite()
	if s := stateOf(nodes[0], l.name); s != "alive" {
		t.Fatalf("the other member lists the node as %s after its failed leave, want alive", s)
	}
}
