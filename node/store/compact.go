package store

import (
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// compactTxBytes bounds each transaction while copying into the new file.
const compactTxBytes = 64 << 20

// Compact rewrites the data file without its free pages, returning the
// space that pruning and deletes freed to the file system. Reads and writes
// wait while it runs. It returns the file sizes before and after.
func (s *Store) Compact() (before, after int64, err error) {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	before = sizeOf(s.path)
	tmp := s.path + ".compact"
	_ = os.Remove(tmp) // a leftover of an interrupted compaction
	dst, err := bolt.Open(tmp, 0o600, boltOptions)
	if err != nil {
		return before, before, fmt.Errorf("compact: %w", err)
	}
	if err := bolt.Compact(dst, s.db, compactTxBytes); err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return before, before, fmt.Errorf("compact: %w", err)
	}
	if err := dst.Close(); err != nil {
		_ = os.Remove(tmp)
		return before, before, fmt.Errorf("compact: %w", err)
	}
	if err := s.db.Close(); err != nil {
		return before, before, fmt.Errorf("compact: close old file: %w", err)
	}
	// The rename is atomic: a crash leaves either file whole.
	renameErr := os.Rename(tmp, s.path)
	if renameErr == nil {
		renameErr = syncDir(filepath.Dir(s.path))
	}
	db, err := bolt.Open(s.path, 0o600, boltOptions)
	if err != nil {
		return before, before, fmt.Errorf("compact: reopen: %w", err)
	}
	s.db = db
	if renameErr != nil {
		return before, before, fmt.Errorf("compact: replace file: %w", renameErr)
	}
	after = sizeOf(s.path)
	s.log.Info("data file compacted", "before_bytes", before, "after_bytes", after)
	return before, after, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
