package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/hlc"
)

// request is one caller's work inside a group commit. fn must not write
// anything when it returns an error wrapped in rejectError.
type request struct {
	fn   func(b *batch) error
	size int64 // bytes it brings (values, keys): bounds queues and batches
	done chan error
}

// rejectError marks an error that refuses one request without harming the
// transaction it shares with others.
type rejectError struct{ err error }

func (e rejectError) Error() string { return e.err.Error() }
func (e rejectError) Unwrap() error { return e.err }

// batch is the state shared by the requests of one transaction.
type batch struct {
	tx       *bolt.Tx
	keys     *bolt.Bucket
	log      *bolt.Bucket
	vv       crdt.VersionVector // working copy, published after commit
	nkeys    int64
	logSize  int64
	touched  []dirtyKey // recorded while a compaction copies the file
	track    bool
	minted   []crdt.Op                 // this process's operations, for the recent window
	states   map[string]*crdt.KeyState // the key states written, for the read cache
	changes  []Change                  // the same, in order, for the change feed
	expiring []expiry                  // versions with a TTL applied, for the expiry queue
	quiet    bool                      // the changes are not news (expired versions swept): no feed
}

// queue is the bounded line of requests waiting for the committer. It is a
// slice under a mutex rather than a channel so that admission can look at
// both bounds (count and bytes) and refuse at once instead of blocking: a
// caller never waits for room while holding anything the committer needs.
type queue struct {
	mu     sync.Mutex
	reqs   []*request
	bytes  int64
	closed bool
	wake   chan struct{} // capacity 1: "there is work"
}

// push admits r. With shed set it refuses with ErrOverloaded when the queue
// is at either bound (a request larger than maxBytes alone is admitted into
// an empty queue). Requests of the node's own machinery (replication,
// pruning, snapshots) are not shed: there are few of them and they must
// make progress for the cluster to converge.
func (s *Store) push(r *request, shed bool) error {
	q := &s.queue
	q.mu.Lock()
	switch {
	case q.closed:
		q.mu.Unlock()
		return ErrClosed
	case shed && len(q.reqs) > 0 && (len(q.reqs) >= s.opts.MaxQueuedWrites || q.bytes+r.size > s.opts.MaxQueuedBytes):
		q.mu.Unlock()
		s.metrics.shed.Inc()
		return ErrOverloaded
	}
	q.reqs = append(q.reqs, r)
	q.bytes += r.size
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// take removes the next group: up to MaxBatch requests and, past the first,
// MaxBatchBytes. ok is false once the queue is closed and empty.
func (s *Store) take() (group []*request, ok bool) {
	q := &s.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	var size int64
	n := 0
	for n < len(q.reqs) && n < s.opts.MaxBatch && (n == 0 || size+q.reqs[n].size <= s.opts.MaxBatchBytes) {
		size += q.reqs[n].size
		n++
	}
	group = slices.Clone(q.reqs[:n])
	clear(q.reqs[:n])
	q.reqs = q.reqs[n:]
	if len(q.reqs) == 0 {
		q.reqs = nil // let the backing array go
	}
	q.bytes -= size
	return group, n > 0 || !q.closed
}

// queued returns the number and bytes of requests waiting.
func (s *Store) queued() (int, int64) {
	s.queue.mu.Lock()
	defer s.queue.mu.Unlock()
	return len(s.queue.reqs), s.queue.bytes
}

func (s *Store) commitLoop() {
	defer close(s.committed)
	for {
		group, ok := s.take()
		if !ok {
			return
		}
		if len(group) == 0 {
			<-s.queue.wake
			continue
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
		b = &batch{tx: tx, keys: tx.Bucket(bucketKeys), log: tx.Bucket(bucketLog), vv: s.VersionVector().Clone(), track: s.tracking()}
		s.mu.RLock()
		b.nkeys, b.logSize = s.nkeys, s.logSize
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
		if err := m.Put(metaLogBytes, be64(uint64(b.logSize))); err != nil {
			return err
		}
		if err := m.Put(metaKeys, be64(uint64(b.nkeys))); err != nil {
			return err
		}
		s.recordDirty(b.touched) // before dbMu is released: see Compact
		return nil
	})
	s.metrics.commit(time.Since(start), len(group))
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	s.cache.committed(b.states) // before any writer is answered
	s.feed.publish(b.changes, b.vv, s.clock.Peek())
	s.expiry.add(b.expiring)
	s.recent.add(b.minted) // before the vector that makes peers ask for them
	s.mu.Lock()
	s.vv, s.nkeys, s.logSize = b.vv, b.nkeys, b.logSize
	s.mu.Unlock()
	return results, nil
}

// do queues fn for the next group commit and waits until it is durable.
// shed refuses it with ErrOverloaded when the queue is full; size is what
// it counts against the byte bounds.
func (s *Store) do(ctx context.Context, size int64, shed bool, fn func(b *batch) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{fn: fn, size: size, done: make(chan error, 1)}
	if err := s.push(r, shed); err != nil {
		return err
	}
	// Once queued the write will commit; wait for it even if ctx ends, so the
	// answer is never "failed" for a write that was stored.
	return <-r.done
}

// Put writes value under key. observed is the causal context the client read
// (nil: everything this node holds for the key), and the versions it covers
// are replaced. It returns the operation once it is durable.
func (s *Store) Put(ctx context.Context, key, value []byte, contentType string, observed *crdt.Context) (crdt.Op, error) {
	return s.local(ctx, key, observed, false, value, contentType, 0)
}

// PutExpiring is Put of a version that expires ttl after its write (see
// expire.go); a ttl of zero never expires.
func (s *Store) PutExpiring(ctx context.Context, key, value []byte, contentType string, observed *crdt.Context, ttl time.Duration) (crdt.Op, error) {
	if ttl < 0 {
		return crdt.Op{}, fmt.Errorf("%w: %v", ErrBadTTL, ttl)
	}
	return s.local(ctx, key, observed, false, value, contentType, ttl)
}

// Delete removes the versions observed (nil: everything this node holds for
// the key). Without a context, deleting a key that has no live version is
// ErrNotFound and writes nothing.
func (s *Store) Delete(ctx context.Context, key []byte, observed *crdt.Context) (crdt.Op, error) {
	return s.local(ctx, key, observed, true, nil, "", 0)
}

func (s *Store) local(ctx context.Context, key []byte, observed *crdt.Context, del bool, value []byte, contentType string, ttl time.Duration) (crdt.Op, error) {
	if err := checkKey(key); err != nil {
		return crdt.Op{}, err
	}
	// The operation outlives the call (the recent window keeps it): one copy
	// of key and value, so the caller may reuse its buffers.
	buf := append(append(make([]byte, 0, len(key)+len(value)), key...), value...)
	key = buf[:len(key):len(key)]
	if !del {
		value = buf[len(key):]
	}
	if observed != nil {
		if err := observed.Check(); err != nil {
			return crdt.Op{}, err
		}
		norm := observed.Normalize()
		observed = &norm
	}
	var op crdt.Op
	err := s.do(ctx, int64(len(key)+len(value)), true, func(b *batch) error {
		minted := b.vv[s.origin]
		if observed != nil {
			if d, beyond := observed.Beyond(s.origin, minted); beyond {
				return rejectError{fmt.Errorf("%w: %v, but this node has made %d", ErrFutureContext, d, minted)}
			}
		}
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
		op = crdt.Op{Key: key, Dot: crdt.Dot{Node: s.origin, Counter: minted + 1}, HLC: s.clock.Now(), Observed: obs, Delete: del, Type: contentType, Value: value}
		if ttl > 0 {
			op.Expires = op.HLC.Add(max(ttl, time.Millisecond))
		}
		if err := b.apply(&op, &st); err != nil {
			return err
		}
		b.minted = append(b.minted, op)
		return nil
	})
	if err != nil {
		return crdt.Op{}, err
	}
	s.metrics.localOp(del, len(value))
	return op, nil
}

// ApplyRemote applies operations minted elsewhere, in order, durably. An
// operation already applied is skipped; one that skips counters of its origin
// stops the call with ErrGap (the ones before it are applied), and so does
// one that is malformed (crdt.ErrBadContext, a bad key) or claims this
// process's origin (ErrOwnOrigin). It returns how many operations were new.
func (s *Store) ApplyRemote(ctx context.Context, ops []crdt.Op) (int, error) {
	var size int64
	var bad error
	for i := range ops {
		if bad = checkRemote(&ops[i], s.origin); bad != nil {
			ops = ops[:i] // the good ones before it still apply
			break
		}
		size += int64(len(ops[i].Key) + len(ops[i].Value))
	}
	return s.applyRemote(ctx, ops, size, bad)
}

// checkRemote validates a remote operation and normalizes its context.
func checkRemote(op *crdt.Op, self crdt.NodeID) error {
	if err := op.Check(); err != nil {
		return err
	}
	if err := checkKey(op.Key); err != nil {
		return fmt.Errorf("remote op %v: %w", op.Dot, err)
	}
	if op.Dot.Node == self {
		return fmt.Errorf("%w: %v", ErrOwnOrigin, op.Dot)
	}
	return nil
}

func (s *Store) applyRemote(ctx context.Context, ops []crdt.Op, size int64, bad error) (int, error) {
	s.remoteMu.RLock() // not while a snapshot is merged
	defer s.remoteMu.RUnlock()
	applied := 0
	if len(ops) > 0 {
		err := s.do(ctx, size, false, func(b *batch) error {
			applied = 0
			for i := range ops {
				op := &ops[i]
				switch have := b.vv[op.Dot.Node]; {
				case op.Dot.Counter <= have:
					continue
				case op.Dot.Counter > have+1:
					return rejectError{fmt.Errorf("%w: %v after %d", ErrGap, op.Dot, have)}
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
		if err != nil {
			return applied, err
		}
	}
	return applied, bad
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
	if err := b.putState(op.Key, st); err != nil {
		return err
	}
	b.countLive(live, len(st.Versions) > 0)
	entry, err := marshal(logEntry{Key: op.Key, HLC: op.HLC, Observed: op.Observed, Delete: op.Delete})
	if err != nil {
		return fmt.Errorf("encode log entry: %w", err)
	}
	k := logKey(op.Dot)
	if err := b.log.Put(k, entry); err != nil {
		return fmt.Errorf("append log: %w", err)
	}
	b.touch(bucketLog, k)
	b.logSize += int64(len(k) + len(entry))
	return nil
}

// putState stores a key's state, or removes its record when it holds
// nothing.
func (b *batch) putState(key []byte, st *crdt.KeyState) error {
	var err error
	if st.IsEmpty() {
		err = b.keys.Delete(key)
	} else {
		err = putCBOR(b.keys, key, st)
	}
	if err != nil {
		return fmt.Errorf("store key: %w", err)
	}
	b.touch(bucketKeys, key)
	if b.states == nil {
		b.states = map[string]*crdt.KeyState{}
	}
	cp := *st // the caller's next load decodes a state of its own
	b.states[string(key)] = &cp
	if !b.quiet {
		b.changes = append(b.changes, Change{Key: bytes.Clone(key), state: &cp})
	}
	for _, v := range st.Versions {
		if v.Expires == 0 {
			continue
		}
		b.expiring = append(b.expiring, expiry{at: v.Expires, key: string(key)})
		if len(b.expiring) == 1 { // the file now needs its queue rebuilt at Open
			if err := b.tx.Bucket(bucketMeta).Put(metaTTL, []byte{1}); err != nil {
				return fmt.Errorf("store key: %w", err)
			}
		}
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
