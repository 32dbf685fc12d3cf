package cluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/yzma/yzma/node/crdt"
)

// TestRestartWithinGraceMovesOnlyMissedOps: a member that is dead for a
// while (a pod restart) holds the log's prune floor, so when it comes back
// it pulls just the operations it missed, not a snapshot of everything.
func TestRestartWithinGraceMovesOnlyMissedOps(t *testing.T) {
	const keys, missed = 2000, 200
	net := newTestNet(t)
	nodes := net.startCluster(3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	for i := range keys {
		put(t, nodes[i%3], fmt.Sprint("k", i), "v")
	}
	// Converged, and each knows the others hold it all: so c's last known
	// vector, which holds the log back while it is dead, covers every key.
	waitFor(t, 20*time.Second, "initial convergence", func() bool { return convergedAndKnown(t, nodes) })
	c.stop()
	waitFor(t, 10*time.Second, "c is declared dead", func() bool { return len(a.c.alivePeers()) == 1 && len(b.c.alivePeers()) == 1 })
	for i := range missed {
		put(t, nodes[i%2], fmt.Sprint("missed", i), "v")
	}
	for _, tn := range nodes[:2] {
		waitFor(t, 20*time.Second, "a and b prune what all three have", func() bool {
			_, err := tn.c.Prune(context.Background())
			st, _ := tn.st.Stats()
			return err == nil && st.LogOps <= missed // keys-and-before are stable
		})
	}
	c2 := net.startNode(c.name, 12, c.dbPath, a.gossip())
	nodes[2] = c2
	waitFor(t, 20*time.Second, "convergence", func() bool { return converged(t, nodes) })
	if n := testutil.ToFloat64(c2.c.metrics.snapshots); n != 0 {
		t.Fatalf("the restarted member took %v snapshots, want 0", n)
	}
	moved := testutil.ToFloat64(c2.c.metrics.pulled) + testutil.ToFloat64(c2.c.metrics.opsReceived)
	if moved < missed || moved > 2*missed {
		t.Fatalf("%v operations reached the restarted member, want about the %d it missed", moved, missed)
	}
}

// TestAloneNodePrunesOnlyPastTheLogLimit: a member that has never seen
// another cannot know what others lack.
func TestAloneNodePrunesOnlyPastTheLogLimit(t *testing.T) {
	net := newTestNet(t)
	limit := int64(1 << 30)
	solo := net.startNodeWith("solo", 30, filepath.Join(t.TempDir(), "solo.db"), func(c *Config) { c.MaxLogBytes = limit })
	for i := range 10 {
		put(t, solo, fmt.Sprint("k", i), "v")
	}
	if n, err := solo.c.Prune(context.Background()); err != nil || n != 0 {
		t.Fatalf("alone, pruned %d (%v), want 0", n, err)
	}
	solo.c.cfg.MaxLogBytes = solo.st.LogBytes() - 1
	if n, err := solo.c.Prune(context.Background()); err != nil || n != 10 {
		t.Fatalf("alone past the log limit, pruned %d (%v), want all 10", n, err)
	}
}

// flakyTransport fails pulls number from..to (counting from 1).
type flakyTransport struct {
	Transport
	from, to int32
	pulls    atomic.Int32
}

var errFlaky = errors.New("test transport: pull failed")

func (f *flakyTransport) Pull(ctx context.Context, ep Endpoint, origin crdt.NodeID, after uint64, limit, maxBytes int) ([]crdt.Op, error) {
	if n := f.pulls.Add(1); n >= f.from && n <= f.to {
		return nil, errFlaky
	}
	return f.Transport.Pull(ctx, ep, origin, after, limit, maxBytes)
}

// TestCatchUpThatFailsPartWayRetries: the node turns ready (Join returns)
// only once a catch-up went through, and then it holds everything.
func TestCatchUpThatFailsPartWayRetries(t *testing.T) {
	const keys = 3000 // several pulled batches
	net := newTestNet(t)
	seed := net.startCluster(1)[0]
	for i := range keys {
		put(t, seed, fmt.Sprint("k", i), "v")
	}
	flaky := &flakyTransport{from: 2, to: 4}
	j := net.startNodeWith("joiner", 31, filepath.Join(t.TempDir(), "joiner.db"), func(c *Config) {
		c.Seeds = []string{seed.gossip()}
		flaky.Transport = c.Transport
		c.Transport = flaky
	})
	if !j.c.Ready() {
		t.Fatal("Join returned but the node is not ready")
	}
	if st, _ := j.st.Stats(); st.Keys != keys {
		t.Fatalf("ready with %d of %d keys", st.Keys, keys)
	}
	// Anti-entropy pulls too, so some of the failures may be its own.
	if n := testutil.ToFloat64(j.c.metrics.catchUpFailures); n < 1 {
		t.Fatalf("catch-up failures = %v, want ≥ 1", n)
	}
}
