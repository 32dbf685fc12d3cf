package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/testwait"
	"github.com/yzma/yzma/node/crdt"
)

// within fails t unless fn returns within d: for operations that must
// never wait on the work a test holds up.
func within(t *testing.T, what string, d time.Duration, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(d):
		t.Fatalf("%s did not return within %s", what, d)
	}
}

func TestOverloadShedsInsteadOfBlocking(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "yzma.db"), Options{MaxQueuedWrites: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()

	s.dbMu.Lock() // the committer cannot commit: writes queue up
	const writers = 20
	results := make(chan error, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			_, err := s.Put(ctx, fmt.Appendf(nil, "k%d", i), []byte("v"), "", nil)
			errs[i] = err
			results <- err
		})
	}
	// Past the bound, writers are answered at once, with the committer
	// still stuck; reads of the published state go on too.
	shed := 0
	testwait.For(t, "writers past the bound to be refused", 10*time.Second, time.Millisecond, func() bool {
		for {
			select {
			case err := <-results:
				if !errors.Is(err, ErrOverloaded) {
					t.Fatalf("a write returned %v while commits were held", err)
				}
				shed++
			default:
				n, _ := s.queued()
				return n == 4 && shed > 0
			}
		}
	})
	within(t, "VersionVector while writes are held", time.Second, func() error { _ = s.VersionVector(); return nil })
	if _, err := s.Put(ctx, []byte("one more"), nil, "", nil); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("write into a full queue: %v, want ErrOverloaded", err)
	}
	s.dbMu.Unlock()
	wg.Wait()
	stored := 0
	for i, err := range errs {
		key := fmt.Sprintf("k%d", i)
		switch {
		case err == nil:
			stored++
			if value(t, s, key) != "v" {
				t.Errorf("%s acknowledged but absent", key)
			}
		case errors.Is(err, ErrOverloaded):
			if value(t, s, key) != "<absent>" {
				t.Errorf("%s refused but stored", key)
			}
		default:
			t.Errorf("%s: %v", key, err)
		}
	}
	if stored < 4 || stored == writers {
		t.Fatalf("%d of %d writes stored; want the queued ones and not the shed ones", stored, writers)
	}
}

func TestBatchesBoundedByCountAndBytes(t *testing.T) {
	s := &Store{opts: Options{MaxBatch: 3, MaxBatchBytes: 100}, queue: queue{wake: make(chan struct{}, 1)}}
	s.opts.setDefaults()
	for _, size := range []int64{500, 10, 10, 10, 10, 60, 60, 1} {
		if err := s.push(&request{size: size}, false); err != nil {
			t.Fatal(err)
		}
	}
	var got [][]int64
	for {
		g, _ := s.take()
		if len(g) == 0 {
			break
		}
		var sizes []int64
		for _, r := range g {
			sizes = append(sizes, r.size)
		}
		got = append(got, sizes)
	}
	want := fmt.Sprint([][]int64{{500}, {10, 10, 10}, {10, 60}, {60, 1}})
	if fmt.Sprint(got) != want {
		t.Fatalf("groups %v, want %v (one oversized request alone, then ≤3 requests and ≤100 bytes)", got, want)
	}
	if n, b := s.queued(); n != 0 || b != 0 {
		t.Fatalf("queue holds %d requests, %d bytes after draining", n, b)
	}
}

func TestForgedContextIsRefusedAndChangesNothing(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	mustPut(t, s, "k", "first")
	before, _ := s.Digest()
	vv := s.VersionVector().Clone()
	for name, forged := range map[string]crdt.Context{
		"vector ahead": {VV: crdt.VersionVector{s.Origin(): vv[s.Origin()] + 1000}},
		"cloud ahead":  {Cloud: []crdt.Dot{{Node: s.Origin(), Counter: vv[s.Origin()] + 5}}},
	} {
		if _, err := s.Put(ctx, []byte("k"), []byte("forged"), "", &forged); !errors.Is(err, ErrFutureContext) {
			t.Fatalf("%s: put %v, want ErrFutureContext", name, err)
		}
		if _, err := s.Delete(ctx, []byte("k"), &forged); !errors.Is(err, ErrFutureContext) {
			t.Fatalf("%s: delete %v, want ErrFutureContext", name, err)
		}
	}
	if after, _ := s.Digest(); after != before || !s.VersionVector().Equal(vv) {
		t.Fatal("a refused write changed the store")
	}
	mustPut(t, s, "k", "second") // later plain writes stay visible
	if got := value(t, s, "k"); got != "second" {
		t.Fatalf("k = %q after a later plain write, want second", got)
	}
	// A peer's operation claiming this process's origin is refused too.
	fake := crdt.Op{Key: []byte("k"), Dot: crdt.Dot{Node: s.Origin(), Counter: 99}, HLC: 1, Value: []byte("x")}
	if _, err := s.ApplyRemote(ctx, []crdt.Op{fake}); !errors.Is(err, ErrOwnOrigin) {
		t.Fatalf("remote op on our origin: %v, want ErrOwnOrigin", err)
	}
}

// exchange brings a and b to the same state by pulling, per origin, what
// each lacks from the other's log, as anti-entropy does.
func exchange(t *testing.T, a, b *Store) {
	t.Helper()
	for _, p := range [][2]*Store{{a, b}, {b, a}} {
		from, to := p[0], p[1]
		for origin, upTo := range from.VersionVector() {
			for have := to.VersionVector()[origin]; have < upTo; have = to.VersionVector()[origin] {
				ops, err := from.OpsSince(origin, have, 100, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := to.ApplyRemote(context.Background(), ops); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRestoredCopyNeverReusesDots: a data file put back from an older copy
// (a volume snapshot, a backup) mints under a new origin, so its new writes
// reach its peers and it gets back what its copy lacked.
func TestRestoredCopyNeverReusesDots(t *testing.T) {
	dir := t.TempDir()
	path, old := filepath.Join(dir, "a.db"), filepath.Join(dir, "a-old.db")
	peer := openStore(t)
	a, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, a, "x", "1")
	exchange(t, a, peer)
	first := a.Origin()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	copyFile(t, path, old) // the backup

	a = openAt(t, path)
	mustPut(t, a, "y", "2") // only in the newer file, and on the peer
	exchange(t, a, peer)
	second := a.Origin()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	copyFile(t, old, path) // the restore, while the peer is away
	a = openAt(t, path)
	if a.Origin() == first || a.Origin() == second {
		t.Fatalf("restored file reuses origin %v", a.Origin())
	}
	op := mustPut(t, a, "z", "3")
	if peer.VersionVector().Covers(op.Dot) {
		t.Fatalf("restored file minted %v, which the peer already holds", op.Dot)
	}
	exchange(t, a, peer)
	for _, s := range []*Store{a, peer} {
		for k, want := range map[string]string{"x": "1", "y": "2", "z": "3"} {
			if got := value(t, s, k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
	}
	da, _ := a.Digest()
	dp, _ := peer.Digest()
	if da != dp || !a.VersionVector().Equal(peer.VersionVector()) {
		t.Fatalf("replicas differ after the exchange: %v vs %v", a.VersionVector(), peer.VersionVector())
	}
}

// TestCompactionCopiesOnline: reads and writes go on while Compact copies,
// and what they change meanwhile is in the compacted file.
func TestCompactionCopiesOnline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "yzma.db")
	s := openAt(t, path)
	ctx := context.Background()
	want := map[string]string{}
	for i := range 3000 {
		k := fmt.Sprintf("k%05d", i)
		mustPut(t, s, k, fmt.Sprint(i))
		want[k] = fmt.Sprint(i)
	}
	for i := 0; i < 3000; i += 2 { // free pages for the compaction to drop
		k := fmt.Sprintf("k%05d", i)
		if _, err := s.Delete(ctx, []byte(k), nil); err != nil {
			t.Fatal(err)
		}
		delete(want, k)
	}
	s.compactHook = func() {
		// The first chunk is copied: change keys already copied and keys
		// not yet copied, and delete one of each.
		for _, k := range []string{"k00001", "k02999", "new-early", "znew-late"} {
			within(t, "a write during compaction", 2*time.Second, func() error {
				_, err := s.Put(ctx, []byte(k), []byte("during"), "", nil)
				return err
			})
			want[k] = "during"
		}
		for _, k := range []string{"k00003", "k02997"} {
			within(t, "a delete during compaction", 2*time.Second, func() error {
				_, err := s.Delete(ctx, []byte(k), nil)
				return err
			})
			delete(want, k)
		}
		within(t, "a read during compaction", 2*time.Second, func() error { _, err := s.Get([]byte("k00005")); return err })
	}
	logBefore, _ := s.Stats()
	before, after, err := s.Compact()
	if err != nil {
		t.Fatal(err)
	}
	if after >= before {
		t.Fatalf("file %d → %d bytes: compaction reclaimed nothing", before, after)
	}
	check := func(s *Store) {
		t.Helper()
		for k, v := range want {
			if got := value(t, s, k); got != v {
				t.Fatalf("%s = %q after compaction, want %q", k, got, v)
			}
		}
		st, _ := s.Stats()
		if st.Keys != int64(len(want)) {
			t.Fatalf("%d keys after compaction, want %d", st.Keys, len(want))
		}
		if st.LogOps != logBefore.LogOps+6 {
			t.Fatalf("log holds %d ops, want %d", st.LogOps, logBefore.LogOps+6)
		}
	}
	check(s)
	mustPut(t, s, "after", "x")
	want["after"] = "x"
	logBefore.LogOps++
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openAt(t, path))
}

// TestSnapshotServingHoldsNothing: a peer reading a snapshot slowly holds
// no transaction, so compaction and writes go on.
func TestSnapshotServingHoldsNothing(t *testing.T) {
	s := openStore(t)
	for i := range 3000 { // several chunks
		mustPut(t, s, fmt.Sprintf("k%05d", i), "v")
	}
	pr, pw := io.Pipe()
	served := make(chan error, 1)
	go func() { served <- s.WriteSnapshot(pw); _ = pw.CloseWithError(io.EOF) }()
	head := make([]byte, 1024)
	if _, err := io.ReadFull(pr, head); err != nil { // then the reader stalls
		t.Fatal(err)
	}
	within(t, "a write while a snapshot is served", 2*time.Second, func() error {
		_, err := s.Put(context.Background(), []byte("during"), []byte("x"), "", nil)
		return err
	})
	within(t, "a compaction while a snapshot is served", 10*time.Second, func() error { _, _, err := s.Compact(); return err })
	rest, err := io.ReadAll(pr)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	peer := openStore(t)
	if err := peer.ApplySnapshot(context.Background(), io.MultiReader(bytes.NewReader(head), bytes.NewReader(rest))); err != nil {
		t.Fatal(err)
	}
	if st, _ := peer.Stats(); st.Keys < 3000 {
		t.Fatalf("peer holds %d keys from the snapshot, want ≥ 3000", st.Keys)
	}
}

func TestMalformedSnapshotsAreRefused(t *testing.T) {
	src := openStore(t)
	mustPut(t, src, "a", "1")
	mustPut(t, src, "b", "2")
	enc := func(items ...any) []byte {
		var buf bytes.Buffer
		e := encMode.NewEncoder(&buf)
		for _, it := range items {
			if err := e.Encode(it); err != nil {
				t.Fatal(err)
			}
		}
		return buf.Bytes()
	}
	dst := openStore(t)
	rec := func(k string) keyRecord {
		it, err := src.Get([]byte(k))
		if err != nil {
			t.Fatal(err)
		}
		return keyRecord{Key: []byte(k), State: crdt.KeyState{Versions: it.Versions}}
	}
	hdr := snapshotHeader{VV: src.VersionVector()}
	tests := map[string][]byte{
		"keys out of order": enc(hdr, rec("b"), rec("a")),
		"repeated key":      enc(hdr, rec("a"), rec("a")),
		"claims our origin": enc(snapshotHeader{VV: crdt.VersionVector{dst.Origin(): 5}}),
		"versions unsorted": enc(hdr, keyRecord{Key: []byte("k"), State: crdt.KeyState{Versions: []crdt.Version{{Dot: crdt.Dot{Node: 9, Counter: 2}}, {Dot: crdt.Dot{Node: 9, Counter: 1}}}}}),
		"truncated":         enc(hdr, rec("a"))[:20],
		"garbage":           []byte("not cbor at all"),
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			before, _ := dst.Digest()
			err := dst.ApplySnapshot(context.Background(), bytes.NewReader(raw))
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("ApplySnapshot = %v, want ErrBadSnapshot", err)
			}
			if after, _ := dst.Digest(); after != before && name != "keys out of order" && name != "repeated key" {
				t.Fatal("a refused snapshot changed the store")
			}
		})
	}
}
