package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// compactChunkBytes bounds each read transaction on the old file and each
// write transaction on the new one while copying.
const compactChunkBytes = 4 << 20

// Compact rewrites the data file without its free pages, returning the
// space that pruning and deletes freed to the file system, and returns the
// file sizes before and after.
//
// It copies online: the records are copied in short read transactions
// while reads and writes go on, and every record a write changes meanwhile
// is noted (dirty.go). Those are copied again, first while writes still go
// on and then, with requests held, the last few; then the new file replaces
// the old one. Requests wait only for that last step: the writes of a
// moment, two fsyncs and a rename.
func (s *Store) Compact() (before, after int64, err error) {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	before = sizeOf(s.path)
	tmp := s.path + ".compact"
	_ = os.Remove(tmp) // a leftover of an interrupted compaction
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: boltOptions.Timeout, NoSync: true, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return before, before, fmt.Errorf("compact: %w", err)
	}
	fail := func(err error) (int64, int64, error) {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return before, before, fmt.Errorf("compact: %w", err)
	}
	s.takeDirty(false) // start noting changes ...
	s.dbMu.Lock()      // ... and let a commit that began before that end
	s.dbMu.Unlock()
	defer s.takeDirty(true)
	for _, name := range [][]byte{bucketKeys, bucketLog} { // meta: in the last step
		if err := s.copyBucket(dst, name); err != nil {
			return fail(err)
		}
	}
	// Catch up with the writes made during the copy while they go on; each
	// pass has less to copy.
	for range 3 {
		dirty := s.takeDirty(false)
		if len(dirty) < 1000 {
			s.recordDirtySet(dirty)
			break
		}
		if err := s.copyDirty(dst, dirty, s.view); err != nil {
			return fail(err)
		}
	}
	// Flush the copy now, so that the last step syncs only its own few
	// pages while requests wait.
	if err := dst.Sync(); err != nil {
		return fail(err)
	}
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	heldSince := time.Now()
	held := func(fn func(*bolt.Tx) error) error { return s.db.View(fn) }
	if err := s.copyDirty(dst, s.takeDirty(true), held); err != nil {
		return fail(err)
	}
	if err := copyBucketIn(dst, s.db, bucketMeta); err != nil { // small, and written by every commit
		return fail(err)
	}
	if err := dst.Sync(); err != nil {
		return fail(err)
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
	s.log.Info("data file compacted", "before_bytes", before, "after_bytes", after, "requests_held", time.Since(heldSince))
	return before, after, nil
}

// copyBucket copies a bucket into dst in chunks, each in its own read
// transaction.
func (s *Store) copyBucket(dst *bolt.DB, name []byte) error {
	var after []byte
	first := true
	for {
		var recs [][2][]byte
		size := 0
		err := s.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(name).Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && size < compactChunkBytes; k, v = c.Next() {
				recs = append(recs, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
				size += len(k) + len(v)
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = dst.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(name)
			if err != nil {
				return err
			}
			b.FillPercent = 1 // keys arrive in order: fill pages
			for _, r := range recs {
				if err := b.Put(r[0], r[1]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if hook := s.compactHook; first && hook != nil {
			s.compactHook = nil // once
			hook()
		}
		first = false
		if len(recs) == 0 {
			return nil
		}
		after = recs[len(recs)-1][0]
	}
}

// copyDirty copies the noted records from the old file (read through view)
// into dst, deleting those that are gone.
func (s *Store) copyDirty(dst *bolt.DB, dirty map[dirtyKey]struct{}, view func(func(*bolt.Tx) error) error) error {
	if len(dirty) == 0 {
		return nil
	}
	type rec struct {
		k    dirtyKey
		v    []byte
		gone bool
	}
	recs := make([]rec, 0, len(dirty))
	err := view(func(tx *bolt.Tx) error {
		for k := range dirty {
			v := tx.Bucket([]byte(k.bucket)).Get([]byte(k.key))
			recs = append(recs, rec{k: k, v: bytes.Clone(v), gone: v == nil})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return dst.Update(func(tx *bolt.Tx) error {
		for _, r := range recs {
			b, err := tx.CreateBucketIfNotExists([]byte(r.k.bucket))
			if err != nil {
				return err
			}
			if r.gone {
				err = b.Delete([]byte(r.k.key))
			} else {
				err = b.Put([]byte(r.k.key), r.v)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// copyBucketIn replaces dst's bucket with src's, in one transaction each.
func copyBucketIn(dst, src *bolt.DB, name []byte) error {
	return src.View(func(stx *bolt.Tx) error {
		return dst.Update(func(dtx *bolt.Tx) error {
			if dtx.Bucket(name) != nil {
				if err := dtx.DeleteBucket(name); err != nil {
					return err
				}
			}
			b, err := dtx.CreateBucket(name)
			if err != nil {
				return err
			}
			return stx.Bucket(name).ForEach(b.Put)
		})
	})
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
