package cluster

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestBlankNodeTakesASnapshot: a node with no data joining a peer whose
// history reaches blankSnapshotOps takes one snapshot instead of the
// operations, then pulls what came after it as usual; a node with data
// takes the operations it lacks.
func TestBlankNodeTakesASnapshot(t *testing.T) {
	tnet := newTestNet(t)
	seed := tnet.startCluster(1)[0]
	loadKeys(t, seed, blankSnapshotOps+500, 20)
	put(t, seed, "after-the-load", "v")
	dir := t.TempDir()
	j := tnet.startNode("joiner", 31, filepath.Join(dir, "joiner.db"), seed.gossip())
	if got := testutil.ToFloat64(j.c.metrics.snapshots); got != 1 {
		t.Fatalf("the blank joiner took %v snapshots, want 1", got)
	}
	if st, _ := j.st.Stats(); st.Keys != int64(blankSnapshotOps+501) {
		t.Fatalf("the joiner holds %d keys at ready, want %d", st.Keys, blankSnapshotOps+501)
	}
	put(t, seed, "later", "v")
	waitFor(t, 10*time.Second, "later writes arrive by the log", func() bool { v, _ := get(t, j, "later"); return v == "v" })

	// Down, a few writes, back: not blank, so deltas only.
	j.stop()
	for i := range 10 {
		put(t, seed, fmt.Sprint("while-down-", i), "v")
	}
	j2 := tnet.startNode("joiner", 31, j.dbPath, seed.gossip())
	if got := testutil.ToFloat64(j2.c.metrics.snapshots); got != 0 {
		t.Fatalf("a node with data took %v snapshots, want 0", got)
	}
	waitFor(t, 10*time.Second, "convergence", func() bool { return converged(t, []*testNode{seed, j2}) })
}
