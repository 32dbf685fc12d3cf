package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestSnapshotsMergeBothWays(t *testing.T) {
	ctx := context.Background()
	a, b := openStore(t), openStore(t)
	for i := 0; i < 2500; i++ { // several chunks
		mustPut(t, a, fmt.Sprintf("a%04d", i), "v")
	}
	ops, err := a.OpsSince(a.Origin(), 0, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ApplyRemote(ctx, ops); err != nil { // b saw a0000..a0009
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ { // ...which a then deletes
		if _, err := a.Delete(ctx, []byte(fmt.Sprintf("a%04d", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	mustPut(t, b, "a0001", "b's concurrent write") // not seen by a's delete
	for i := 0; i < 1200; i++ {
		mustPut(t, b, fmt.Sprintf("b%04d", i), "v")
	}

	var snap bytes.Buffer
	if err := a.WriteSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	if err := b.ApplySnapshot(ctx, &snap); err != nil {
		t.Fatal(err)
	}
	snap.Reset()
	if err := b.WriteSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	if err := a.ApplySnapshot(ctx, &snap); err != nil {
		t.Fatal(err)
	}

	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Fatal("replicas differ after exchanging snapshots")
	}
	for _, tt := range []struct{ key, want string }{
		{"a0000", "<absent>"}, // deleted on a after b saw it: stays deleted
		{"a0001", "b's concurrent write"},
		{"a0007", "v"},
		{"a2499", "v"},
		{"b1199", "v"},
	} {
		if got := value(t, b, tt.key); got != tt.want {
			t.Errorf("%s = %q, want %q", tt.key, got, tt.want)
		}
	}
	if st, _ := b.Stats(); st.Keys != 2500-4+1200 {
		t.Errorf("b holds %d keys, want %d", st.Keys, 2500-4+1200)
	}
	if !b.VersionVector().Dominates(a.VersionVector()) {
		t.Fatalf("b's vector %v does not cover a's %v", b.VersionVector(), a.VersionVector())
	}
	// b never held a's log past a:10, so it sends peers to a snapshot.
	if _, err := b.OpsSince(a.Origin(), 10, 10, 1<<20); !errors.Is(err, ErrPruned) {
		t.Fatalf("b serving a's skipped ops: %v, want ErrPruned", err)
	}
	// Ops already covered by the snapshot are duplicates now.
	if n, err := b.ApplyRemote(ctx, ops); err != nil || n != 0 {
		t.Fatalf("re-applying old ops: %d new, %v", n, err)
	}
}
