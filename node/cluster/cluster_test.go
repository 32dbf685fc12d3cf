package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestFiveNodesConverge(t *testing.T) {
	net := newTestNet(t)
	nodes := net.startCluster(5)
	big := bytes.Repeat([]byte("x"), 1<<20)
	var wg sync.WaitGroup
	for i, tn := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				v := fmt.Sprintf("v-%d-%d", i, j)
				if j%25 == 0 {
					v = string(big) + v // 1 MiB values ride the same channel
				}
				put(t, tn, fmt.Sprintf("k%d", j%40), v) // keys shared by all writers
			}
		}()
	}
	wg.Wait()
	waitFor(t, 20*time.Second, "all five nodes hold identical data", func() bool { return converged(t, nodes) })
	for _, tn := range nodes[1:] {
		for j := 0; j < 40; j++ {
			a, an := get(t, nodes[0], fmt.Sprint("k", j))
			b, bn := get(t, tn, fmt.Sprint("k", j))
			if a != b || an != bn || an == 0 {
				t.Fatalf("k%d: %s shows %.20q (%d versions), %s shows %.20q (%d)", j, nodes[0].name, a, an, tn.name, b, bn)
			}
		}
	}
}

func TestConcurrentWritesAreSiblingsEverywhere(t *testing.T) {
	net := newTestNet(t)
	nodes := net.startCluster(3)
	a, b := nodes[0], nodes[1]
	net.setCut(a, true) // a cannot exchange data: both writes are concurrent
	put(t, a, "k", "from-a")
	put(t, b, "k", "from-b")
	net.setCut(a, false)
	waitFor(t, 10*time.Second, "convergence", func() bool { return converged(t, nodes) })
	want, _ := get(t, a, "k")
	for _, tn := range nodes {
		if v, n := get(t, tn, "k"); n != 2 || v != want {
			t.Fatalf("%s shows %q with %d versions, want %q with 2 siblings", tn.name, v, n, want)
		}
	}
}

func TestCutOffNodeCatchesUpWithoutRejoin(t *testing.T) {
	net := newTestNet(t)
	nodes := net.startCluster(3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	put(t, a, "stays", "1")
	put(t, a, "deleted-while-away", "1")
	put(t, b, "overwritten-while-away", "old")
	waitFor(t, 10*time.Second, "initial convergence", func() bool { return converged(t, nodes) })

	net.setCut(c, true)
	del(t, a, "deleted-while-away")
	put(t, b, "overwritten-while-away", "new")
	for i := 0; i < 50; i++ {
		put(t, nodes[i%2], fmt.Sprint("new-", i), "v")
	}
	put(t, c, "written-by-c-while-away", "c") // c keeps taking writes
	if v, _ := get(t, c, "deleted-while-away"); v != "1" {
		t.Fatalf("cut-off node saw the delete: %q", v)
	}

	net.setCut(c, false) // heal: anti-entropy alone must mend it
	waitFor(t, 10*time.Second, "convergence after the cut heals", func() bool { return converged(t, nodes) })
	for _, tn := range nodes {
		if v, _ := get(t, tn, "deleted-while-away"); v != "<absent>" {
			t.Fatalf("%s: deleted key came back as %q", tn.name, v)
		}
		if v, n := get(t, tn, "overwritten-while-away"); v != "new" || n != 1 {
			t.Fatalf("%s: overwritten key is %q (%d versions)", tn.name, v, n)
		}
		if v, _ := get(t, tn, "written-by-c-while-away"); v != "c" {
			t.Fatalf("%s lacks c's write", tn.name)
		}
	}
}

func TestStoppedNodeReturnsAndConverges(t *testing.T) {
	net := newTestNet(t)
	nodes := net.startCluster(3)
	a, c := nodes[0], nodes[2]
	put(t, a, "gone", "1")
	waitFor(t, 10*time.Second, "initial convergence", func() bool { return converged(t, nodes) })
	c.stop()
	del(t, a, "gone")
	put(t, a, "while-stopped", "1")
	// c comes back on its data file under its name, with its usual seed.
	c2 := net.startNode(c.name, 12, c.dbPath, a.gossip())
	nodes[2] = c2
	waitFor(t, 10*time.Second, "convergence after restart", func() bool { return converged(t, nodes) })
	if v, _ := get(t, c2, "gone"); v != "<absent>" {
		t.Fatalf("deleted key came back on the returning node: %q", v)
	}
}

func TestJoinCatchesUpBeforeReady(t *testing.T) {
	keys := 100_000
	if testing.Short() || raceEnabled {
		keys = 5_000
	}
	net := newTestNet(t)
	nodes := net.startCluster(2)
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < keys; i += 32 {
				put(t, nodes[i%2], fmt.Sprint("key-", i), "v")
			}
		}()
	}
	wg.Wait()
	joiner := net.startNode("joiner", 20, filepath.Join(t.TempDir(), "joiner.db"), nodes[0].gossip())
	if !joiner.c.Ready() {
		t.Fatal("Join returned but the node is not ready")
	}
	// Ready only after catching up: right when it turns ready it has them all.
	if st, _ := joiner.st.Stats(); st.Keys != int64(keys) {
		t.Fatalf("joiner ready with %d of %d keys", st.Keys, keys)
	}
}

func TestLeaveHandsOffEveryWrite(t *testing.T) {
	net := newTestNet(t)
	nodes := net.startCluster(3)
	leaver := nodes[2]
	for i := 0; i < 200; i++ {
		put(t, leaver, fmt.Sprint("from-leaver-", i), "v")
	}
	res, err := leaver.c.Leave(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Peers) != 2 {
		t.Fatalf("handed off to %v, want both others", res.Peers)
	}
	if err := leaver.c.BeginWrite(); !errors.Is(err, ErrLeaving) {
		t.Fatalf("write after leave: %v, want ErrLeaving", err)
	}
	if again, err := leaver.c.Leave(context.Background()); err != nil || again != res {
		t.Fatalf("second leave: %v, %v; want the same result", again, err)
	}
	// Kill it and lose its disk: nothing may be lost.
	leaver.stop()
	if err := os.Remove(leaver.dbPath); err != nil {
		t.Fatal(err)
	}
	for _, tn := range nodes[:2] {
		for i := 0; i < 200; i++ {
			if v, _ := get(t, tn, fmt.Sprint("from-leaver-", i)); v != "v" {
				t.Fatalf("%s lost from-leaver-%d", tn.name, i)
			}
		}
	}
	waitFor(t, 10*time.Second, "survivors see the leaver as left", func() bool {
		for _, m := range nodes[0].c.Members() {
			if m.Name == leaver.name {
				return m.State == "left"
			}
		}
		return false
	})
}

func TestLeaveWithoutReachablePeersKeepsMembership(t *testing.T) {
	net := newTestNet(t)
	nodes := net.startCluster(2)
	leaver := nodes[1]
	put(t, leaver, "only-here", "v")
	net.setCut(leaver, true)
	if _, err := leaver.c.Leave(context.Background()); !errors.Is(err, ErrHandOff) {
		t.Fatalf("leave with peers unreachable: %v, want ErrHandOff", err)
	}
	put(t, leaver, "still-writable", "v") // still a full member
	if got := len(nodes[0].c.alivePeers()); got != 1 {
		t.Fatalf("the other member sees %d peers, want 1", got)
	}
	net.setCut(leaver, false)
	waitFor(t, 10*time.Second, "convergence", func() bool { return converged(t, nodes) })
}

func TestPruneAtCausalStability(t *testing.T) {
	net := newTestNet(t)
	// A leave whose announcement (the Left flag in gossip) is lost looks
	// like a death, which holds the log for DeadGrace: short here, so that
	// the rare lost announcement on a busy machine delays the test instead
	// of failing it.
	nodes := net.startCluster(3, func(c *Config) { c.DeadGrace = 2 * time.Second })
	for i := 0; i < 100; i++ {
		put(t, nodes[i%3], fmt.Sprint("k", i), "v")
	}
	waitFor(t, 10*time.Second, "convergence and known vectors", func() bool { return convergedAndKnown(t, nodes) })
	n, err := nodes[0].c.Prune(context.Background())
	if err != nil || n != 100 {
		t.Fatalf("pruned %d, %v; want all 100 ops", n, err)
	}
	// A member that left no longer holds pruning back.
	if _, err := nodes[2].c.Leave(context.Background()); err != nil {
		t.Fatalf("leave: %v", err)
	}
	put(t, nodes[0], "after", "v")
	waitFor(t, 10*time.Second, "node-1 has the new op", func() bool { return converged(t, nodes[:2]) })
	waitFor(t, 15*time.Second, "the op is pruned", func() bool {
		n, err := nodes[0].c.Prune(context.Background())
		return err == nil && n == 1
	})
}

// TestReturnAfterGapWasPrunedTakesSnapshot: a member back after the dead
// grace finds its gap pruned and takes a snapshot.
func TestReturnAfterGapWasPrunedTakesSnapshot(t *testing.T) {
	net := newTestNet(t)
	nodes := net.startCluster(3, func(c *Config) { c.DeadGrace = time.Millisecond })
	a, b, c := nodes[0], nodes[1], nodes[2]
	put(t, a, "deleted-while-away", "1")
	waitFor(t, 10*time.Second, "initial convergence", func() bool { return converged(t, nodes) })
	c.stop()
	waitFor(t, 10*time.Second, "c is declared dead", func() bool { return len(a.c.alivePeers()) == 1 && len(b.c.alivePeers()) == 1 })
	del(t, a, "deleted-while-away")
	for i := 0; i < 100; i++ {
		put(t, nodes[i%2], fmt.Sprint("k", i), "v")
	}
	waitFor(t, 10*time.Second, "a and b prune everything", func() bool {
		for _, tn := range nodes[:2] {
			if _, err := tn.c.Prune(context.Background()); err != nil {
				t.Fatal(err)
			}
			if st, _ := tn.st.Stats(); st.LogOps != 0 {
				return false
			}
		}
		return true
	})
	c2 := net.startNode(c.name, 12, c.dbPath, a.gossip())
	nodes[2] = c2
	waitFor(t, 10*time.Second, "convergence through a snapshot", func() bool { return converged(t, nodes) })
	if v, _ := get(t, c2, "deleted-while-away"); v != "<absent>" {
		t.Fatalf("a key deleted while the node was away came back: %q", v)
	}
}

func TestDiskShrinksAfterDeletesPruneAndCompaction(t *testing.T) {
	keys := 100_000
	if testing.Short() || raceEnabled {
		keys = 10_000
	}
	net := newTestNet(t)
	nodes := net.startCluster(3)
	value := bytes.Repeat([]byte("v"), 100)
	write := func(deleting bool) {
		var wg sync.WaitGroup
		for w := 0; w < 30; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < keys; i += 30 {
					tn, key := nodes[i%3], fmt.Sprint("key-", i)
					if deleting {
						del(t, tn, key)
					} else {
						put(t, tn, key, string(value))
					}
				}
			}()
		}
		wg.Wait()
		waitFor(t, 60*time.Second, "convergence", func() bool { return converged(t, nodes) })
	}
	write(false)
	write(true)
	for _, tn := range nodes {
		waitFor(t, 60*time.Second, tn.name+" prunes its whole log", func() bool {
			if _, err := tn.c.Prune(context.Background()); err != nil {
				t.Fatal(err)
			}
			st, _ := tn.st.Stats()
			return st.LogOps == 0 && st.Keys == 0
		})
		peak, after, err := tn.st.Compact()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: data file %d bytes at peak, %d after compaction (%.1f%%)", tn.name, peak, after, 100*float64(after)/float64(peak))
		if after*10 >= peak {
			t.Errorf("%s: %d bytes after compaction, not under 10%% of the peak %d", tn.name, after, peak)
		}
	}
	put(t, nodes[0], "after-compaction", "v") // the store works on the new file
	waitFor(t, 10*time.Second, "convergence after compaction", func() bool { return converged(t, nodes) })
}
