package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/wire"
)

// A backup is a snapshot stream (header, then every key's state in key
// order) whose header also says what it is, followed by the SHA-256 of
// everything before it (BackupSumSize raw bytes). Unlike WriteSnapshot,
// which reads in short transactions for a peer that merges and then
// catches up, a backup is read in one transaction: it is the state at one
// instant, with the version vector of that same instant.
const (
	backupFormat = 1
	// BackupSumSize is the size of the checksum that ends a backup.
	BackupSumSize = sha256.Size
)

// backupHeader is a snapshotHeader (field 1) with more fields, which the
// snapshot decoder ignores: a backup without its checksum is a snapshot.
type backupHeader struct {
	VV     crdt.VersionVector `cbor:"1,keyasint"`
	Format int                `cbor:"2,keyasint"`
	Origin crdt.NodeID        `cbor:"3,keyasint"` // of the process that wrote it
	Time   int64              `cbor:"4,keyasint"` // Unix milliseconds
	NodeID crdt.NodeID        `cbor:"5,keyasint"` // of the data file it was read from
}

// Sentinel errors of backups and restores.
var (
	// ErrNotEmpty: a restore needs a node that holds nothing yet.
	ErrNotEmpty = errors.New("node holds data: restore needs an empty node")
	// ErrBadBackup: the stream is not a whole, intact backup.
	ErrBadBackup = errors.New("malformed backup")
	// ErrBackupTooLarge: the backup passes the restore's size limit.
	ErrBackupTooLarge = errors.New("backup larger than the limit")
	// ErrBackupRunning: this node is already writing a backup.
	ErrBackupRunning = errors.New("a backup is already running on this node")
)

// BackupInfo describes a backup.
type BackupInfo struct {
	Size   int64              // bytes, checksum included
	SHA256 [sha256.Size]byte  // of the bytes before the checksum
	Keys   int                // key states it holds (live or not)
	NodeID crdt.NodeID        // the node (data file) it was read from
	Origin crdt.NodeID        // the process that wrote it
	Time   time.Time          // of the transaction it was read in
	VV     crdt.VersionVector // what it reflects
}

// Sum is the checksum in hex.
func (b BackupInfo) Sum() string { return hex.EncodeToString(b.SHA256[:]) }

// Backup is a finished backup spooled to a file: its size and checksum
// are known before it is sent. Close removes it.
type Backup struct {
	BackupInfo
	f *os.File
}

// WriteTo copies the backup to w.
func (b *Backup) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, io.NewSectionReader(b.f, 0, b.Size))
}

// Close releases the spooled file.
func (b *Backup) Close() error { return b.f.Close() }

// Backup reads the whole key state in one read transaction and spools it,
// with its checksum, to an unlinked file beside the data file: the
// transaction lasts as long as the local disk takes to write the copy, not
// as long as a slow client takes to fetch it (a long read transaction
// keeps bbolt from reusing pages, and from growing its mapping while it
// lasts). One backup at a time: another is ErrBackupRunning.
func (s *Store) Backup() (*Backup, error) {
	if !s.backupMu.TryLock() {
		return nil, ErrBackupRunning
	}
	defer s.backupMu.Unlock()
	f, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".backup-*")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	// Unlinked at once: a crash leaves nothing behind.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("backup: %w", err)
	}
	b := &Backup{f: f}
	if err := s.writeBackup(f, &b.BackupInfo); err != nil {
		f.Close()
		return nil, fmt.Errorf("backup: %w", err)
	}
	return b, nil
}

func (s *Store) writeBackup(f *os.File, info *BackupInfo) error {
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	enc := encMode.NewEncoder(bw)
	info.Origin, info.NodeID = s.origin, s.id
	err := s.view(func(tx *bolt.Tx) error {
		info.Time = time.Now().UTC()
		if err := getCBOR(tx.Bucket(bucketMeta), metaVV, &info.VV); err != nil {
			return err
		}
		hdr := backupHeader{VV: info.VV, Format: backupFormat, Origin: s.origin, NodeID: s.id, Time: info.Time.UnixMilli()}
		if err := enc.Encode(hdr); err != nil {
			return err
		}
		return tx.Bucket(bucketKeys).ForEach(func(k, v []byte) error {
			rec := keyRecord{Key: k}
			if err := unmarshal(v, &rec.State); err != nil {
				return fmt.Errorf("decode key %q: %w", k, err)
			}
			info.Keys++
			return enc.Encode(rec)
		})
	})
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	copy(info.SHA256[:], h.Sum(nil))
	if _, err := f.Write(info.SHA256[:]); err != nil {
		return err
	}
	info.Size, err = f.Seek(0, io.SeekCurrent)
	return err
}

// Restore merges a backup (from Backup) into this store, which must hold
// nothing yet (ErrNotEmpty): no key, no operation made or received. The
// stream is spooled to an unlinked file beside the data file, at most
// maxBytes of it (0: no limit; ErrBackupTooLarge), and its checksum verified before anything
// is merged, so a damaged or truncated backup changes nothing
// (ErrBadBackup). The merge is a snapshot merge: the versions keep their
// dots, and this store goes on minting under its own origin, which no
// backup can hold (a new one at every Open). Writes made meanwhile are
// merged with it, not lost. It returns what was restored.
func (s *Store) Restore(ctx context.Context, r io.Reader, maxBytes int64) (BackupInfo, error) {
	var info BackupInfo
	if !s.empty() {
		return info, ErrNotEmpty
	}
	f, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".restore-*")
	if err != nil {
		return info, fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return info, fmt.Errorf("restore: %w", err)
	}
	if maxBytes > 0 {
		r = io.LimitReader(r, maxBytes+1)
	}
	n, err := io.Copy(f, r)
	if err != nil {
		return info, fmt.Errorf("restore: read backup: %w", err)
	}
	if maxBytes > 0 && n > maxBytes {
		return info, fmt.Errorf("%w of %d bytes", ErrBackupTooLarge, maxBytes)
	}
	info, err = checkBackup(f, n)
	if err != nil {
		return info, err
	}
	if !s.empty() { // written to while the backup was uploaded
		return info, ErrNotEmpty
	}
	info.Keys, err = s.applySnapshot(ctx, io.NewSectionReader(f, 0, n-BackupSumSize), nil)
	if err != nil {
		if errors.Is(err, ErrBadSnapshot) {
			err = fmt.Errorf("%w: %w", ErrBadBackup, err)
		}
		return info, fmt.Errorf("restore: %w", err)
	}
	return info, nil
}

// checkBackup verifies the checksum of the n-byte backup in f and reads
// its header.
func checkBackup(f io.ReaderAt, n int64) (BackupInfo, error) {
	info := BackupInfo{Size: n}
	if n <= BackupSumSize {
		return info, fmt.Errorf("%w: %d bytes is too short", ErrBadBackup, n)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, n-BackupSumSize)); err != nil {
		return info, fmt.Errorf("restore: %w", err)
	}
	if _, err := f.ReadAt(info.SHA256[:], n-BackupSumSize); err != nil {
		return info, fmt.Errorf("restore: %w", err)
	}
	if !bytes.Equal(h.Sum(nil), info.SHA256[:]) {
		return info, fmt.Errorf("%w: checksum mismatch (truncated or damaged)", ErrBadBackup)
	}
	var hdr backupHeader
	dec := wire.NewStream(snapshotDec, io.NewSectionReader(f, 0, n-BackupSumSize), MaxSnapshotRecord)
	if err := dec.Decode(&hdr); err != nil {
		return info, fmt.Errorf("%w: header: %w", ErrBadBackup, err)
	}
	if hdr.Format != backupFormat {
		return info, fmt.Errorf("%w: format %d, want %d", ErrBadBackup, hdr.Format, backupFormat)
	}
	if err := (crdt.Context{VV: hdr.VV}).Check(); err != nil {
		return info, fmt.Errorf("%w: header: %w", ErrBadBackup, err)
	}
	info.Origin, info.NodeID, info.VV, info.Time = hdr.Origin, hdr.NodeID, hdr.VV, time.UnixMilli(hdr.Time).UTC()
	return info, nil
}

// empty reports whether the store holds no key and no operation.
func (s *Store) empty() bool {
	for _, c := range s.VersionVector() {
		if c > 0 {
			return false
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nkeys == 0
}
