package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yzma/yzma/node/crdt"
)

// fakeWall is a wall clock tests move by hand.
type fakeWall struct{ ms atomic.Int64 }

func newFakeWall() *fakeWall {
	w := &fakeWall{}
	w.ms.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	return w
}

func (w *fakeWall) now() time.Time      { return time.UnixMilli(w.ms.Load()) }
func (w *fakeWall) add(d time.Duration) { w.ms.Add(d.Milliseconds()) }
func openWithWall(t *testing.T, path string, w *fakeWall) *Store {
	t.Helper()
	s, err := Open(path, Options{Wall: w.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func putTTL(t *testing.T, s *Store, key, value string, ttl time.Duration) crdt.Op {
	t.Helper()
	op, err := s.PutExpiring(context.Background(), []byte(key), []byte(value), "", nil, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func listed(t *testing.T, s *Store) int {
	t.Helper()
	entries, _, err := s.List(nil, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func TestExpiredVersionsAreHidden(t *testing.T) {
	wall := newFakeWall()
	s := openWithWall(t, filepath.Join(t.TempDir(), "yzma.db"), wall)
	putTTL(t, s, "session", "s1", 10*time.Second)
	mustPut(t, s, "forever", "f")
	if value(t, s, "session") != "s1" || listed(t, s) != 2 {
		t.Fatal("a version is hidden before it expires")
	}
	wall.add(11 * time.Second)
	if got := value(t, s, "session"); got != "<absent>" {
		t.Fatalf("expired key reads %q", got)
	}
	if n := listed(t, s); n != 1 {
		t.Fatalf("listing holds %d keys after the expiry, want 1", n)
	}
	if states, _ := s.States(nil, nil, 10); len(states) != 1 {
		t.Fatalf("states hold %d keys, want 1", len(states))
	}
	// A read of the expired key still names it: a write with that context
	// supersedes it rather than standing beside it.
	it, err := s.Get([]byte("session"))
	if !errors.Is(err, ErrNotFound) || it.Context.IsEmpty() {
		t.Fatalf("Get of an expired key: %+v, %v", it, err)
	}
	if _, err := s.Put(context.Background(), []byte("session"), []byte("s2"), "", &it.Context); err != nil {
		t.Fatal(err)
	}
	wall.add(time.Hour) // written without a TTL: it never expires
	if it, _ := s.Get([]byte("session")); len(it.Versions) != 1 || string(it.Shown().Value) != "s2" {
		t.Fatalf("after a write without TTL: %+v", it.Versions)
	}
}

// A later write without a TTL clears it, though made before the expiry.
func TestWriteWithoutTTLClearsIt(t *testing.T) {
	wall := newFakeWall()
	s := openWithWall(t, filepath.Join(t.TempDir(), "yzma.db"), wall)
	putTTL(t, s, "k", "short", time.Second)
	mustPut(t, s, "k", "long")
	wall.add(time.Minute)
	if got := value(t, s, "k"); got != "long" {
		t.Fatalf("k = %q, want long", got)
	}
}

// Expire announces an expiry on the change feed once, and removes the
// version from the file only once it is stable.
func TestExpireAnnouncesThenRemovesWhenStable(t *testing.T) {
	wall := newFakeWall()
	path := filepath.Join(t.TempDir(), "yzma.db")
	s := openWithWall(t, path, wall)
	putTTL(t, s, "a", "1", 5*time.Second)
	putTTL(t, s, "b", "2", time.Hour)
	start := s.FeedPosition()
	wall.add(6 * time.Second)
	ctx := context.Background()
	if n, err := s.Expire(ctx, noneStable); err != nil || n != 0 {
		t.Fatalf("Expire with nothing stable removed %d, %v", n, err)
	}
	changes, _, err := s.ChangesSince(start, 10)
	if err != nil || len(changes) != 1 || string(changes[0].Key) != "a" || !changes[0].Deleted() {
		t.Fatalf("feed after the expiry: %+v, %v; want a deleted", changes, err)
	}
	wall.add(2 * time.Second) // past the retry
	if n, err := s.Expire(ctx, s.VersionVector); err != nil || n != 1 {
		t.Fatalf("Expire with everything stable removed %d, %v; want 1", n, err)
	}
	if changes, _, _ := s.ChangesSince(start+1, 10); len(changes) != 0 {
		t.Fatalf("the removal was announced again: %+v", changes)
	}
	if st, _ := s.Stats(); st.Keys != 1 {
		t.Fatalf("%d keys stored, want 1 (b)", st.Keys)
	}
	// The queue survives a restart: b expires after one.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openWithWall(t, path, wall)
	if s.Expiring() != 1 {
		t.Fatalf("%d expiry times queued after the restart, want 1", s.Expiring())
	}
	wall.add(2 * time.Hour)
	if n, err := s.Expire(ctx, s.VersionVector); err != nil || n != 1 || value(t, s, "b") != "<absent>" {
		t.Fatalf("after the restart Expire removed %d, %v", n, err)
	}
}

// The expiry travels with the operation, from the window and from the
// file, so every replica expires the version at the same hybrid time.
func TestExpiryIsReplicated(t *testing.T) {
	wall := newFakeWall()
	a := openWithWall(t, filepath.Join(t.TempDir(), "a.db"), wall)
	b := openWithWall(t, filepath.Join(t.TempDir(), "b.db"), wall)
	op := putTTL(t, a, "k", "v", 30*time.Second)
	if op.Expires != op.HLC.Add(30*time.Second) {
		t.Fatalf("expires %v, want %v", op.Expires, op.HLC.Add(30*time.Second))
	}
	fromWindow, _ := a.OpsSince(a.Origin(), 0, 10, 1<<20)
	a.recent = recent{}
	fromFile, _ := a.OpsSince(a.Origin(), 0, 10, 1<<20)
	if fromWindow[0].Expires != op.Expires || fromFile[0].Expires != op.Expires {
		t.Fatalf("replicated expiry: window %v, file %v; want %v", fromWindow[0].Expires, fromFile[0].Expires, op.Expires)
	}
	if _, err := b.ApplyRemote(context.Background(), fromFile); err != nil {
		t.Fatal(err)
	}
	if value(t, b, "k") != "v" {
		t.Fatal("b does not show k before the expiry")
	}
	wall.add(31 * time.Second)
	if value(t, b, "k") != "<absent>" || value(t, a, "k") != "<absent>" {
		t.Fatal("k still shows on a replica after its expiry")
	}
}

func noneStable() crdt.VersionVector { return nil }
