package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/yzma/yzma/node/crdt"
)

func opsAt(from, to uint64, size int) []crdt.Op {
	var ops []crdt.Op
	for c := from; c <= to; c++ {
		ops = append(ops, crdt.Op{Key: []byte("k"), Dot: crdt.Dot{Node: 1, Counter: c}, Value: make([]byte, size)})
	}
	return ops
}

func counters(ops []crdt.Op) []uint64 {
	var cs []uint64
	for _, op := range ops {
		cs = append(cs, op.Dot.Counter)
	}
	return cs
}

func TestRecentWindow(t *testing.T) {
	tests := []struct {
		name   string
		adds   [][]crdt.Op
		after  uint64
		limit  int
		want   []uint64 // nil with ok false: not served
		served bool
	}{
		{"empty", nil, 0, 10, nil, false},
		{"from the start", [][]crdt.Op{opsAt(1, 3, 1)}, 0, 10, []uint64{1, 2, 3}, true},
		{"middle", [][]crdt.Op{opsAt(1, 3, 1), opsAt(4, 5, 1)}, 2, 10, []uint64{3, 4, 5}, true},
		{"limit", [][]crdt.Op{opsAt(1, 5, 1)}, 0, 2, []uint64{1, 2}, true},
		{"nothing newer", [][]crdt.Op{opsAt(1, 3, 1)}, 3, 10, nil, false},
		{"before the window", [][]crdt.Op{opsAt(5, 6, 1)}, 3, 10, nil, false},
		{"a gap restarts it", [][]crdt.Op{opsAt(1, 3, 1), opsAt(7, 8, 1)}, 2, 10, nil, false},
		{"after a gap", [][]crdt.Op{opsAt(1, 3, 1), opsAt(7, 8, 1)}, 6, 10, []uint64{7, 8}, true},
		{"trimmed by count", [][]crdt.Op{opsAt(1, recentMaxOps+2, 0)}, 1, 1, nil, false},
		{"kept after trimming", [][]crdt.Op{opsAt(1, recentMaxOps+2, 0)}, 2, 1, []uint64{3}, true},
		{"trimmed by bytes", [][]crdt.Op{opsAt(1, 3, recentMaxBytes/3)}, 0, 10, nil, false},
		{"bytes keep the newest", [][]crdt.Op{opsAt(1, 3, recentMaxBytes/3)}, 1, 10, []uint64{2, 3}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recent
			for _, ops := range tt.adds {
				r.add(ops)
			}
			got, ok := r.since(tt.after, tt.limit, 1<<30)
			if ok != tt.served || fmt.Sprint(counters(got)) != fmt.Sprint(tt.want) {
				t.Fatalf("since(%d) = %v, %v; want %v, %v", tt.after, counters(got), ok, tt.want, tt.served)
			}
		})
	}
}

// The window answers OpsSince exactly as the file does, values included,
// and the file still answers what the window no longer holds.
func TestOpsSinceFromWindowMatchesTheFile(t *testing.T) {
	s := openStore(t)
	for i := range 50 {
		mustPut(t, s, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	if _, err := s.Delete(context.Background(), []byte("k3"), nil); err != nil {
		t.Fatal(err)
	}
	fromWindow, err := s.OpsSince(s.Origin(), 10, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	s.recent = recent{} // forget the window: the file answers
	fromFile, err := s.OpsSince(s.Origin(), 10, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(fromWindow) != 41 || len(fromFile) != len(fromWindow) {
		t.Fatalf("window %d ops, file %d; want 41 each", len(fromWindow), len(fromFile))
	}
	for i := range fromFile {
		w, f := fromWindow[i], fromFile[i]
		if w.Dot != f.Dot || !bytes.Equal(w.Key, f.Key) || !bytes.Equal(w.Value, f.Value) || w.Type != f.Type ||
			w.Delete != f.Delete || w.HLC != f.HLC || fmt.Sprint(w.Observed) != fmt.Sprint(f.Observed) {
			t.Fatalf("op %d: window %+v, file %+v", i, w, f)
		}
	}
}

// The store copies what it keeps: a caller reusing its buffers after Put
// changes nothing replicated.
func TestPutKeepsItsOwnCopy(t *testing.T) {
	s := openStore(t)
	key, val := []byte("key"), []byte("value")
	if _, err := s.Put(context.Background(), key, val, "", nil); err != nil {
		t.Fatal(err)
	}
	copy(key, "XXX")
	copy(val, "XXXXX")
	ops, err := s.OpsSince(s.Origin(), 0, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 1 || string(ops[0].Key) != "key" || string(ops[0].Value) != "value" {
		t.Fatalf("ops = %+v", ops)
	}
}

// A prune larger than one transaction's share is done in several, each
// recording how far it got, and drops exactly what was asked.
func TestPruneInBatches(t *testing.T) {
	defer func(n int) { pruneBatch = n }(pruneBatch)
	pruneBatch = 7
	ctx := context.Background()
	a, b := openStore(t), openStore(t)
	for i := range 30 {
		mustPut(t, a, fmt.Sprintf("a%d", i), "v")
		mustPut(t, b, fmt.Sprintf("b%d", i), "v")
	}
	ops, err := b.OpsSince(b.Origin(), 0, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ApplyRemote(ctx, ops); err != nil {
		t.Fatal(err)
	}
	a.recent = recent{} // the file's log
	before, _ := a.Stats()
	commitsBefore := commits(t, a)
	pruned, err := a.Prune(ctx, crdt.VersionVector{a.Origin(): 25, b.Origin(): 12})
	if err != nil || pruned != 37 {
		t.Fatalf("pruned %d, %v; want 37", pruned, err)
	}
	if n := commits(t, a) - commitsBefore; n < 6 { // 37 entries, 7 a transaction
		t.Fatalf("the prune took %d transactions, want at least 6", n)
	}
	after, _ := a.Stats()
	if before.LogOps-after.LogOps != 37 || a.LogBytes() <= 0 {
		t.Fatalf("log ops %d → %d, %d bytes", before.LogOps, after.LogOps, a.LogBytes())
	}
	for _, tc := range []struct {
		origin crdt.NodeID
		after  uint64
		first  uint64 // 0: ErrPruned
	}{{a.Origin(), 24, 0}, {a.Origin(), 25, 26}, {b.Origin(), 11, 0}, {b.Origin(), 12, 13}} {
		ops, err := a.OpsSince(tc.origin, tc.after, 100, 1<<20)
		switch {
		case tc.first == 0 && !errors.Is(err, ErrPruned):
			t.Errorf("after %d: %v, want ErrPruned", tc.after, err)
		case tc.first != 0 && (err != nil || len(ops) == 0 || ops[0].Dot.Counter != tc.first):
			t.Errorf("after %d: %d ops, %v; want from %d", tc.after, len(ops), err, tc.first)
		}
	}
}

// commits is how many transactions s has committed (its commit histogram).
func commits(t *testing.T, s *Store) uint64 {
	t.Helper()
	var m dto.Metric
	if err := s.metrics.commitDur.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}
