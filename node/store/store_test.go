package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/yzma/yzma/node/crdt"
)

// openStore opens a store on a fresh file in t.TempDir, closed at cleanup.
func openStore(t testing.TB) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "yzma.db"))
}

func openAt(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustPut(t testing.TB, s *Store, key, value string) crdt.Op {
	t.Helper()
	op, err := s.Put(context.Background(), []byte(key), []byte(value), "text/plain", nil)
	if err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
	return op
}

func value(t testing.TB, s *Store, key string) string {
	t.Helper()
	it, err := s.Get([]byte(key))
	if errors.Is(err, ErrNotFound) {
		return "<absent>"
	}
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	return string(it.Shown().Value)
}

func TestKeysAreIndependent(t *testing.T) {
	s := openStore(t)
	keys := []string{"foo", "foobar", "fo", "a/b", "a/b/", "/", "a.b", ".", "..", "with space", "ключ", "日本", "emoji🙂", "\x00bin\xff"}
	for _, k := range keys {
		mustPut(t, s, k, "v:"+k)
	}
	for _, k := range keys {
		if got := value(t, s, k); got != "v:"+k {
			t.Errorf("get %q = %q", k, got)
		}
	}
	for _, del := range []string{"foo", "a.b", "a/b", "."} {
		t.Run("delete "+del, func(t *testing.T) {
			if _, err := s.Delete(context.Background(), []byte(del), nil); err != nil {
				t.Fatal(err)
			}
			if got := value(t, s, del); got != "<absent>" {
				t.Fatalf("deleted key still reads %q", got)
			}
		})
	}
	for _, k := range []string{"foobar", "fo", "a/b/", "/", "..", "ключ"} {
		if got := value(t, s, k); got != "v:"+k {
			t.Errorf("neighbour %q = %q after deletes", k, got)
		}
	}
}

func TestBadInput(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	tests := []struct {
		name string
		err  error
		run  func() error
	}{
		{"empty key put", ErrEmptyKey, func() error { _, err := s.Put(ctx, nil, []byte("x"), "", nil); return err }},
		{"empty key get", ErrEmptyKey, func() error { _, err := s.Get([]byte{}); return err }},
		{"long key", ErrKeyTooLong, func() error {
			_, err := s.Put(ctx, []byte(strings.Repeat("k", MaxKeyLen+1)), nil, "", nil)
			return err
		}},
		{"delete missing", ErrNotFound, func() error { _, err := s.Delete(ctx, []byte("nope"), nil); return err }},
		{"get missing", ErrNotFound, func() error { _, err := s.Get([]byte("nope")); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
	if _, err := s.Put(ctx, []byte(strings.Repeat("k", MaxKeyLen)), nil, "", nil); err != nil {
		t.Fatalf("key of exactly MaxKeyLen: %v", err)
	}
	if st, _ := s.Stats(); st.Keys != 1 {
		t.Fatalf("keys = %d after rejected writes, want 1", st.Keys)
	}
}

func TestRestartKeepsAcknowledgedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "yzma.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, origin := s.NodeID(), s.Origin()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				mustPut(t, s, fmt.Sprintf("w%d/k%d", w, i), fmt.Sprint(i))
			}
		}()
	}
	wg.Wait()
	if _, err := s.Delete(context.Background(), []byte("w0/k0"), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), []byte("late"), nil, "", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("put after close: %v, want ErrClosed", err)
	}

	s = openAt(t, path)
	if s.NodeID() != id {
		t.Fatalf("node ID changed across restart: %v → %v", id, s.NodeID())
	}
	for w := 0; w < 8; w++ {
		for i := 0; i < 50; i++ {
			want := fmt.Sprint(i)
			if w == 0 && i == 0 {
				want = "<absent>"
			}
			if got := value(t, s, fmt.Sprintf("w%d/k%d", w, i)); got != want {
				t.Fatalf("w%d/k%d = %q, want %q", w, i, got, want)
			}
		}
	}
	if st, _ := s.Stats(); st.Keys != 399 {
		t.Fatalf("keys = %d, want 399", st.Keys)
	}
	if got := s.VersionVector()[origin]; got != 401 {
		t.Fatalf("first origin's counter = %d, want 401", got)
	}
	// A new process mints under a new origin, from 1: it cannot know that
	// this file is the newest copy (see TestRestoredCopyNeverReusesDots).
	if s.Origin() == origin || !s.IsOwn(origin) || !s.IsOwn(s.Origin()) {
		t.Fatalf("origin after restart %v (before %v)", s.Origin(), origin)
	}
	if op := mustPut(t, s, "after", "x"); op.Dot != (crdt.Dot{Node: s.Origin(), Counter: 1}) {
		t.Fatalf("next dot %v, want %v:1", op.Dot, s.Origin())
	}
}

func TestFreshFileIsANewNode(t *testing.T) {
	dir := t.TempDir()
	a := openAt(t, filepath.Join(dir, "a.db"))
	b := openAt(t, filepath.Join(dir, "b.db"))
	if a.NodeID() == b.NodeID() {
		t.Fatal("two fresh files share a node ID")
	}
}

func TestTokens(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	mustPut(t, s, "k", "v1")
	it, _ := s.Get([]byte("k"))
	stale := it.Context
	mustPut(t, s, "k", "v2") // no token: replaces v1
	if it, _ := s.Get([]byte("k")); len(it.Versions) != 1 {
		t.Fatalf("plain overwrite left %d versions", len(it.Versions))
	}
	// A write with a stale token did not see v2: both survive.
	if _, err := s.Put(ctx, []byte("k"), []byte("v3"), "", &stale); err != nil {
		t.Fatal(err)
	}
	it, _ = s.Get([]byte("k"))
	if len(it.Versions) != 2 || string(it.Shown().Value) != "v3" {
		t.Fatalf("versions %v, shown %q; want siblings v2,v3 showing v3", it.Versions, it.Shown().Value)
	}
	// Deleting with that read's token removes both.
	tok := it.Context
	if _, err := s.Delete(ctx, []byte("k"), &tok); err != nil {
		t.Fatal(err)
	}
	if got := value(t, s, "k"); got != "<absent>" {
		t.Fatalf("after delete with full token: %q", got)
	}
}

func TestDeletedKeysLeaveNoRecord(t *testing.T) {
	s := openStore(t)
	for i := 0; i < 100; i++ {
		mustPut(t, s, fmt.Sprint("k", i), "v")
		if _, err := s.Delete(context.Background(), []byte(fmt.Sprint("k", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bucketKeys).Stats().KeyN; n != 0 {
			t.Errorf("%d key records remain after deleting every key", n)
		}
		return nil
	})
}

func TestList(t *testing.T) {
	s := openStore(t)
	for _, k := range []string{"a", "b/1", "b/2", "b/3", "ba", "c"} {
		mustPut(t, s, k, k)
	}
	if _, err := s.Delete(context.Background(), []byte("b/2"), nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		prefix, after string
		limit         int
		want          string
		next          string
	}{
		{"", "", 10, "a b/1 b/3 ba c", ""},
		{"b/", "", 10, "b/1 b/3", ""},
		{"b", "", 2, "b/1 b/3", "b/3"},
		{"b", "b/3", 2, "ba", ""},
		{"", "b", 2, "b/1 b/3", "b/3"},
		{"zz", "", 5, "", ""},
		{"", "", 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q after %q limit %d", tt.prefix, tt.after, tt.limit), func(t *testing.T) {
			got, next, err := s.List([]byte(tt.prefix), []byte(tt.after), tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, e := range got {
				keys = append(keys, string(e.Key))
			}
			if strings.Join(keys, " ") != tt.want || string(next) != tt.next {
				t.Fatalf("got %v next %q, want %q next %q", keys, next, tt.want, tt.next)
			}
		})
	}
}

// TestReplicationPrimitives checks what peers rely on: the log serves each
// origin's ops in order with their values, remote ops apply once and in
// order, and pruned ranges are refused.
func TestReplicationPrimitives(t *testing.T) {
	ctx := context.Background()
	a, b := openStore(t), openStore(t)
	mustPut(t, a, "x", "1")
	mustPut(t, a, "x", "2") // supersedes the first
	mustPut(t, a, "y", "3")
	if _, err := a.Delete(ctx, []byte("y"), nil); err != nil {
		t.Fatal(err)
	}
	a.recent = recent{} // the log in the file, not the window (TestOpsSinceFromWindowMatchesTheFile)
	ops, err := a.OpsSince(a.Origin(), 0, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 4 || !ops[0].Superseded || string(ops[1].Value) != "2" || !ops[3].Delete {
		t.Fatalf("log = %+v", ops)
	}
	if page, _ := a.OpsSince(a.Origin(), 0, 100, 1); len(page) != 1 {
		t.Fatalf("a 1-byte page holds %d ops, want exactly 1", len(page))
	}
	if _, err := b.ApplyRemote(ctx, ops[2:]); !errors.Is(err, ErrGap) {
		t.Fatalf("ops after a gap: %v, want ErrGap", err)
	}
	n, err := b.ApplyRemote(ctx, append(ops, ops...)) // duplicates are skipped
	if err != nil || n != 4 {
		t.Fatalf("applied %d, %v; want 4 new", n, err)
	}
	if value(t, b, "x") != "2" || value(t, b, "y") != "<absent>" {
		t.Fatalf("replica state x=%q y=%q", value(t, b, "x"), value(t, b, "y"))
	}
	if !b.VersionVector().Equal(a.VersionVector()) {
		t.Fatalf("vectors differ: %v vs %v", b.VersionVector(), a.VersionVector())
	}
	// b's own write observed a's: a applies it and drops its version.
	bop := mustPut(t, b, "x", "from-b")
	if _, err := a.ApplyRemote(ctx, []crdt.Op{bop}); err != nil {
		t.Fatal(err)
	}
	if it, _ := a.Get([]byte("x")); len(it.Versions) != 1 || string(it.Shown().Value) != "from-b" {
		t.Fatalf("a after b's overwrite: %+v", it.Versions)
	}

	a.recent = recent{}
	pruned, err := a.Prune(ctx, crdt.VersionVector{a.Origin(): 3})
	if err != nil || pruned != 3 {
		t.Fatalf("pruned %d, %v; want 3", pruned, err)
	}
	if _, err := a.OpsSince(a.Origin(), 1, 10, 1<<20); !errors.Is(err, ErrPruned) {
		t.Fatalf("ops below the floor: %v, want ErrPruned", err)
	}
	if ops, err := a.OpsSince(a.Origin(), 3, 10, 1<<20); err != nil || len(ops) != 1 || ops[0].Dot.Counter != 4 {
		t.Fatalf("ops above the floor: %+v, %v", ops, err)
	}
	if st, _ := a.Stats(); st.LogOps != 2 {
		t.Fatalf("log holds %d ops, want 2 (a:4 and b's)", st.LogOps)
	}
}
