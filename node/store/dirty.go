package store

// dirtyKey names one record a transaction changed while a compaction was
// copying the file: Compact copies these again before it swaps files.
type dirtyKey struct {
	bucket string
	key    string
}

// touch records a changed record when a compaction is copying the file.
func (b *batch) touch(bucket, key []byte) {
	if b.track {
		b.touched = append(b.touched, dirtyKey{string(bucket), string(key)})
	}
}

// tracking reports whether transactions must record what they change.
func (s *Store) tracking() bool {
	s.dirtyMu.Lock()
	defer s.dirtyMu.Unlock()
	return s.dirty != nil
}

// recordDirty adds what a transaction changed to the compaction's set.
// Keys of a transaction that then failed are harmless: copying a record
// again is idempotent.
func (s *Store) recordDirty(keys []dirtyKey) {
	if len(keys) == 0 {
		return
	}
	s.dirtyMu.Lock()
	defer s.dirtyMu.Unlock()
	if s.dirty == nil {
		return
	}
	for _, k := range keys {
		s.dirty[k] = struct{}{}
	}
}

// takeDirty returns the records changed since the last call and starts a
// new set (stop: stop tracking).
func (s *Store) takeDirty(stop bool) map[dirtyKey]struct{} {
	s.dirtyMu.Lock()
	defer s.dirtyMu.Unlock()
	d := s.dirty
	if stop {
		s.dirty = nil
	} else {
		s.dirty = map[dirtyKey]struct{}{}
	}
	return d
}

// recordDirtySet puts a taken set back, to be copied in the final step.
func (s *Store) recordDirtySet(d map[dirtyKey]struct{}) {
	s.dirtyMu.Lock()
	defer s.dirtyMu.Unlock()
	if s.dirty == nil {
		return
	}
	for k := range d {
		s.dirty[k] = struct{}{}
	}
}
