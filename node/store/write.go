package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/hlc"
)

// request is one caller's work inside a group commit. fn must not write
// anything when it returns an error wrapped in errReject.
type request struct {
	fn   func(b *batch) error
	done chan error
}

// errReject marks an error that refuses one request without harming the
// transaction it shares with others.
type rejectError struct{ err error }

func (e rejectError) Error() string { return e.err.Error() }
func (e rejectError) Unwrap() error { return e.err }

// batch is the state shared by the requests of one transaction.
type batch struct {
	tx    *bolt.Tx
	keys  *bolt.Bucket
	log   *bolt.Bucket
	vv    crdt.VersionVector // working copy, published after commit
	nkeys int64
}

func (s *Store) commitLoop() {
	defer close(s.committed)
	for r := range s.reqs {
		group := []*request{r}
	drain:
		for len(group) < s.maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				group = append(group, r)
			default:
				break drain
			}
		}
		s.commit(group)
	}
}

// commit runs a group in one transaction. If the transaction fails, each
// request is retried alone so one bad request cannot fail the others.
func (s *Store) commit(group []*request) {
	results, err := s.runTx(group)
	if err != nil && len(group) > 1 {
		for _, r := range group {
			s.commit([]*request{r})
		}
		return
	}
	for i, r := range group {
		if err != nil {
			r.done <- err
		} else {
			r.done <- results[i]
		}
	}
}

func (s *Store) runTx(group []*request) ([]error, error) {
	start := time.Now()
	results := make([]error, len(group))
	var b *batch
	err := s.update(func(tx *bolt.Tx) error {
		b = &batch{tx: tx, keys: tx.Bucket(bucketKeys), log: tx.Bucket(bucketLog), vv: s.VersionVector().Clone()}
		s.mu.RLock()
		b.nkeys = s.nkeys
		s.mu.RUnlock()
		for i, r := range group {
			if err := r.fn(b); err != nil {
				if !errors.As(err, new(rejectError)) {
					return err
				}
				results[i] = err
			}
		}
		m := tx.Bucket(bucketMeta)
		if err := putCBOR(m, metaVV, b.vv); err != nil {
			return err
		}
		if err := m.Put(metaHLC, be64(uint64(s.clock.Last()))); err != nil {
			return err
		}
		return m.Put(metaKeys, be64(uint64(b.nkeys)))
	})
	s.metrics.commit(time.Since(start), len(group))
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	s.mu.Lock()
	s.vv, s.nkeys = b.vv, b.nkeys
	s.mu.Unlock()
	return results, nil
}

// do queues fn for the next group commit and waits until it is durable.
func (s *Store) do(ctx context.Context, fn func(b *batch) error) error {
	r := &request{fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued the write will commit; wait for it even if ctx ends, so the
	// answer is never "failed" for a write that was stored.
	return <-r.done
}

// Put writes value under key. observed is the causal context the client read
// (nil: everything this node holds for the key), and the versions it covers
// are replaced. It returns the operation once it is durable.
func (s *Store) Put(ctx context.Context, key, value []byte, contentType string, observed *crdt.Context) (crdt.Op, error) {
	return s.local(ctx, key, observed, false, value, contentType)
}

// Delete removes the versions observed (nil: everything this node holds for
// the key). Without a context, deleting a key that has no live version is
// ErrNotFound and writes nothing.
func (s *Store) Delete(ctx context.Context, key []byte, observed *crdt.Context) (crdt.Op, error) {
	return s.local(ctx, key, observed, true, nil, "")
}

func (s *Store) local(ctx context.Context, key []byte, observed *crdt.Context, del bool, value []byte, contentType string) (crdt.Op, error) {
	if err := checkKey(key); err != nil {
		return crdt.Op{}, err
	}
	var op crdt.Op
	err := s.do(ctx, func(b *batch) error {
		st, err := b.load(key)
		if err != nil {
			return err
		}
		obs := st.Observe(crdt.ContextOf(b.vv))
		if observed != nil {
			obs = *observed
		} else if del && len(st.Versions) == 0 {
			return rejectError{ErrNotFound}
		}
		op = crdt.Op{Key: key, Dot: crdt.Dot{Node: s.id, Counter: b.vv[s.id] + 1}, HLC: s.clock.Now(), Observed: obs, Delete: del, Type: contentType, Value: value}
		return b.apply(&op, &st)
	})
	if err != nil {
		return crdt.Op{}, err
	}
	s.metrics.localOp(del, len(value))
	return op, nil
}

// ApplyRemote applies operations minted elsewhere, in order, durably. An
// operation already applied is skipped; one that skips counters of its origin
// stops the call with ErrGap (the ones before it are applied). It returns how
// many operations were new.
func (s *Store) ApplyRemote(ctx context.Context, ops []crdt.Op) (int, error) {
	s.remoteMu.RLock() // not while a snapshot is merged
	defer s.remoteMu.RUnlock()
	applied := 0
	err := s.do(ctx, func(b *batch) error {
		applied = 0
		for i := range ops {
			op := &ops[i]
			switch have := b.vv[op.Dot.Node]; {
			case op.Dot.Counter <= have:
				continue
			case op.Dot.Counter > have+1:
				return rejectError{fmt.Errorf("%w: %v after %d", ErrGap, op.Dot, have)}
			}
			if err := checkKey(op.Key); err != nil {
				return rejectError{fmt.Errorf("remote op %v: %w", op.Dot, err)}
			}
			s.clock.Observe(op.HLC)
			st, err := b.load(op.Key)
			if err != nil {
				return err
			}
			if err := b.apply(op, &st); err != nil {
				return err
			}
			applied++
		}
		return nil
	})
	return applied, err
}

func (b *batch) load(key []byte) (crdt.KeyState, error) {
	var st crdt.KeyState
	if err := getCBOR(b.keys, key, &st); err != nil {
		return st, err
	}
	return st, nil
}

// apply applies op to st (the key's current state), records it in the log and
// advances the version vector.
func (b *batch) apply(op *crdt.Op, st *crdt.KeyState) error {
	live := len(st.Versions) > 0
	st.Apply(op, crdt.ContextOf(b.vv))
	b.vv[op.Dot.Node] = op.Dot.Counter
	st.Compact(crdt.ContextOf(b.vv))
	var err error
	if st.IsEmpty() {
		err = b.keys.Delete(op.Key)
	} else {
		err = putCBOR(b.keys, op.Key, st)
	}
	if err != nil {
		return fmt.Errorf("store key: %w", err)
	}
	b.countLive(live, len(st.Versions) > 0)
	entry := logEntry{Key: op.Key, HLC: op.HLC, Observed: op.Observed, Delete: op.Delete}
	if err := putCBOR(b.log, logKey(op.Dot), entry); err != nil {
		return fmt.Errorf("append log: %w", err)
	}
	return nil
}

// countLive tracks the live key count as a key goes from live before to now.
func (b *batch) countLive(before, now bool) {
	switch {
	case now && !before:
		b.nkeys++
	case !now && before:
		b.nkeys--
	}
}

// logEntry is an operation in the log, without its value (see the package doc).
type logEntry struct {
	Key      []byte        `cbor:"1,keyasint"`
	HLC      hlc.Timestamp `cbor:"2,keyasint"`
	Observed crdt.Context  `cbor:"3,keyasint,omitempty"`
	Delete   bool          `cbor:"4,keyasint,omitempty"`
}

func logKey(d crdt.Dot) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(d.Node))
	binary.BigEndian.PutUint64(k[8:], d.Counter)
	return k
}
