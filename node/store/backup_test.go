package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/yzma/yzma/node/crdt"
)

// backupOf takes a backup of s into memory.
func backupOf(t testing.TB, s *Store) ([]byte, BackupInfo) {
	t.Helper()
	b, err := s.Backup()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != b.Size {
		t.Fatalf("backup is %d bytes, info says %d", buf.Len(), b.Size)
	}
	return buf.Bytes(), b.BackupInfo
}

func digestOf(t testing.TB, s *Store) string {
	t.Helper()
	d, err := s.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestBackupRestoreRoundTrip: a restored store holds what the backup's
// store held (siblings, deletes, contexts alike: identical digests), mints
// under an origin the backup does not hold, and its later writes
// supersede what it restored.
func TestBackupRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	a, other := openStore(t), openStore(t)
	for i := range 1200 { // two snapshot chunks
		mustPut(t, a, fmt.Sprintf("k%04d", i), fmt.Sprint("v", i))
	}
	for i := range 10 {
		if _, err := a.Delete(ctx, fmt.Appendf(nil, "k%04d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	// Siblings: a write of another replica that a never observed.
	op := mustPut(t, other, "k0500", "concurrent")
	if _, err := a.ApplyRemote(ctx, []crdt.Op{op}); err != nil {
		t.Fatal(err)
	}

	data, info := backupOf(t, a)
	if info.Keys != 1190 || info.Origin != a.Origin() || !info.VV.Equal(a.VersionVector()) {
		t.Fatalf("info = %d keys, origin %v, vv %v; want 1190, %v, %v", info.Keys, info.Origin, info.VV, a.Origin(), a.VersionVector())
	}
	if got := sha256.Sum256(data[:len(data)-BackupSumSize]); got != info.SHA256 || !bytes.Equal(data[len(data)-BackupSumSize:], got[:]) {
		t.Fatal("backup does not end with the checksum of what precedes it")
	}

	b := openStore(t)
	restored, err := b.Restore(ctx, bytes.NewReader(data), 0)
	if err != nil {
		t.Fatal(err)
	}
	if restored.Keys != 1190 || restored.SHA256 != info.SHA256 || restored.Origin != a.Origin() || restored.NodeID != a.NodeID() {
		t.Fatalf("restored %+v, want what the backup said", restored)
	}
	if digestOf(t, b) != digestOf(t, a) {
		t.Fatal("restored store differs from the backed-up one")
	}
	if _, held := info.VV[b.Origin()]; held || b.Origin() == a.Origin() || b.Origin() == other.Origin() {
		t.Fatalf("restored store mints under %v, which the backup holds", b.Origin())
	}
	if got := value(t, b, "k0003"); got != "<absent>" {
		t.Fatalf("deleted key restored as %q", got)
	}
	if it, err := b.Get([]byte("k0500")); err != nil || len(it.Versions) != 2 {
		t.Fatalf("siblings of k0500: %v, %v; want 2", it.Versions, err)
	}
	mustPut(t, b, "k0500", "after") // supersedes both siblings it read
	if it, err := b.Get([]byte("k0500")); err != nil || len(it.Versions) != 1 || string(it.Versions[0].Value) != "after" {
		t.Fatalf("k0500 after a write: %v, %v", it.Versions, err)
	}
}

// TestBackupIsPointInTime: writers go on during the backup; the backup
// holds exactly the state its version vector names: a replica given
// exactly those operations has the restored store's digest. A backup read
// in several transactions (as WriteSnapshot reads) fails this.
func TestBackupIsPointInTime(t *testing.T) {
	ctx := context.Background()
	a := openStore(t)
	for i := range 1000 {
		mustPut(t, a, fmt.Sprintf("k%04d", i), "0")
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for n := 1; !stop.Load() && n < 100_000; n++ {
				key := fmt.Appendf(nil, "k%04d", (n*7+w*250)%1000)
				if _, err := a.Put(ctx, key, fmt.Append(nil, n), "text/plain", nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for a.VersionVector()[a.Origin()] < 2000 { // writes are under way
		mustPut(t, a, "pace", "x")
	}
	data, info := backupOf(t, a)
	stop.Store(true)
	wg.Wait()
	if info.VV[a.Origin()] >= a.VersionVector()[a.Origin()] {
		t.Fatal("no write happened after the backup: the test proves nothing")
	}

	b := openStore(t)
	if _, err := b.Restore(ctx, bytes.NewReader(data), 0); err != nil {
		t.Fatal(err)
	}
	replica := openStore(t)
	for after := uint64(0); after < info.VV[a.Origin()]; {
		ops, err := a.OpsSince(a.Origin(), after, 1000, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for i, op := range ops {
			if op.Dot.Counter > info.VV[a.Origin()] {
				ops = ops[:i]
				break
			}
		}
		if _, err := replica.ApplyRemote(ctx, ops); err != nil {
			t.Fatal(err)
		}
		after = ops[len(ops)-1].Dot.Counter
	}
	if digestOf(t, b) != digestOf(t, replica) {
		t.Fatal("the backup is not the state its version vector names")
	}
}

// TestRestoreRefuses: a damaged, truncated, foreign or oversized backup,
// or a store that holds data, is refused and the store left as it was.
func TestRestoreRefuses(t *testing.T) {
	src := openStore(t)
	for i := range 50 {
		mustPut(t, src, fmt.Sprintf("k%02d", i), "v")
	}
	good, _ := backupOf(t, src)
	withSum := func(body []byte) []byte {
		sum := sha256.Sum256(body)
		return append(bytes.Clone(body), sum[:]...)
	}
	var snap bytes.Buffer
	if err := src.WriteSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1
	tests := []struct {
		name    string
		data    []byte
		max     int64
		nonEmpt bool
		want    error
	}{
		{"one flipped bit", flipped, 0, false, ErrBadBackup},
		{"truncated", good[:len(good)-100], 0, false, ErrBadBackup},
		{"checksum only", good[len(good)-BackupSumSize:], 0, false, ErrBadBackup},
		{"empty", nil, 0, false, ErrBadBackup},
		{"a snapshot, not a backup", withSum(snap.Bytes()), 0, false, ErrBadBackup},
		{"garbage with a good checksum", withSum([]byte("garbage")), 0, false, ErrBadBackup},
		{"over the limit", good, int64(len(good) - 1), false, ErrBackupTooLarge},
		{"into a store that holds data", good, 0, true, ErrNotEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			if tt.nonEmpt {
				mustPut(t, s, "mine", "x")
			}
			before := digestOf(t, s)
			vv := s.VersionVector()
			_, err := s.Restore(context.Background(), bytes.NewReader(tt.data), tt.max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Restore = %v, want %v", err, tt.want)
			}
			if digestOf(t, s) != before || !s.VersionVector().Equal(vv) {
				t.Fatal("a refused restore changed the store")
			}
		})
	}
	// At the limit exactly, it is taken.
	if _, err := openStore(t).Restore(context.Background(), bytes.NewReader(good), int64(len(good))); err != nil {
		t.Fatalf("backup of exactly the limit: %v", err)
	}
}

func TestOneBackupAtATime(t *testing.T) {
	s := openStore(t)
	s.backupMu.Lock()
	_, err := s.Backup()
	s.backupMu.Unlock()
	if !errors.Is(err, ErrBackupRunning) {
		t.Fatalf("Backup during a backup = %v, want ErrBackupRunning", err)
	}
}

// FuzzCheckBackup: any bytes, with or without a valid checksum, are a
// backup whose header reads, or ErrBadBackup; never a panic.
func FuzzCheckBackup(f *testing.F) {
	s := openStore(f)
	mustPut(f, s, "a", "x")
	good, _ := backupOf(f, s)
	f.Add(good[:len(good)-BackupSumSize])
	f.Add([]byte{0xa1, 0x02, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha256.Sum256(body)
		for _, data := range [][]byte{body, append(bytes.Clone(body), sum[:]...)} {
			info, err := checkBackup(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				if !errors.Is(err, ErrBadBackup) {
					t.Fatalf("checkBackup: %v, want ErrBadBackup", err)
				}
				continue
			}
			if info.Size != int64(len(data)) || !bytes.Equal(info.SHA256[:], data[len(data)-BackupSumSize:]) {
				t.Fatalf("accepted %d bytes as %+v", len(data), info)
			}
			if err := (crdt.Context{VV: info.VV}).Check(); err != nil {
				t.Fatalf("accepted a header whose vector fails Check: %v", err)
			}
		}
	})
}
