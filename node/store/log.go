package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/yzma/yzma/node/crdt"
)

// OpsSince returns up to limit operations of origin with counters above
// after, in counter order, with their values where still live, stopping once
// their values pass maxBytes (at least one operation is returned). ErrPruned
// means the log no longer reaches back to after.
func (s *Store) OpsSince(origin crdt.NodeID, after uint64, limit, maxBytes int) ([]crdt.Op, error) {
	if origin == s.origin {
		if ops, ok := s.recent.since(after, limit, maxBytes); ok {
			return ops, nil
		}
	}
	var ops []crdt.Op
	size := 0
	err := s.view(func(tx *bolt.Tx) error {
		floor := crdt.VersionVector{}
		if err := getCBOR(tx.Bucket(bucketMeta), metaFloor, &floor); err != nil {
			return err
		}
		if after < floor[origin] {
			return fmt.Errorf("%w: origin %v pruned through %d, asked after %d", ErrPruned, origin, floor[origin], after)
		}
		keys := tx.Bucket(bucketKeys)
		c := tx.Bucket(bucketLog).Cursor()
		prefix := be64(uint64(origin))
		for k, v := c.Seek(logKey(crdt.Dot{Node: origin, Counter: after + 1})); k != nil && bytes.HasPrefix(k, prefix) && len(ops) < limit && size < maxBytes; k, v = c.Next() {
			var e logEntry
			if err := unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode log entry: %w", err)
			}
			op := crdt.Op{Key: e.Key, Dot: crdt.Dot{Node: origin, Counter: binary.BigEndian.Uint64(k[8:])}, HLC: e.HLC, Observed: e.Observed, Delete: e.Delete}
			if !op.Delete {
				var st crdt.KeyState
				if err := getCBOR(keys, e.Key, &st); err != nil {
					return err
				}
				if v, ok := st.Find(op.Dot); ok {
					op.Type, op.Value, op.Expires = v.Type, v.Value, v.Expires
				} else {
					op.Superseded = true
				}
			}
			ops = append(ops, op)
			size += len(op.Value) + len(op.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	return ops, nil
}

// pruneBatch bounds the log entries one Prune transaction drops, so that a
// large prune never holds the committer (and every write queued behind it)
// for long: a prune of a million entries is a few hundred short commits.
var pruneBatch = 4096 // a variable for tests

// Prune drops the log entries at or below stable, the version vector every
// member that may still need them has applied, and returns how many it
// dropped. Peers asking for operations below that point get ErrPruned.
func (s *Store) Prune(ctx context.Context, stable crdt.VersionVector) (int, error) {
	total := 0
	for {
		n, more, err := s.pruneSome(ctx, stable)
		total += n
		s.metrics.pruned.Add(float64(n))
		if err != nil {
			return total, fmt.Errorf("prune log: %w", err)
		}
		if !more {
			return total, nil
		}
	}
}

// pruneSome drops up to pruneBatch entries in one transaction and reports
// whether more remain. The keys are collected first and deleted by key:
// bbolt rebalances only at commit, so re-seeking the start of a range after
// each delete would walk every leaf emptied so far, quadratic in the
// entries dropped.
func (s *Store) pruneSome(ctx context.Context, stable crdt.VersionVector) (pruned int, more bool, err error) {
	err = s.do(ctx, 0, false, func(b *batch) error {
		pruned, more = 0, false
		m := b.tx.Bucket(bucketMeta)
		floor := crdt.VersionVector{}
		if err := getCBOR(m, metaFloor, &floor); err != nil {
			return err
		}
		var drop [][]byte
		c := b.log.Cursor()
		for origin, upTo := range stable {
			if upTo > b.vv[origin] { // never past what this node has applied
				upTo = b.vv[origin]
			}
			prefix := be64(uint64(origin))
			k, v := c.Seek(prefix)
			for ; k != nil && bytes.HasPrefix(k, prefix) && binary.BigEndian.Uint64(k[8:]) <= upTo && len(drop) < pruneBatch; k, v = c.Next() {
				b.logSize -= int64(len(k) + len(v))
				drop = append(drop, k)
			}
			if k != nil && bytes.HasPrefix(k, prefix) && binary.BigEndian.Uint64(k[8:]) <= upTo {
				more = true // this origin's range goes on: its floor waits for the next batch
				upTo = binary.BigEndian.Uint64(k[8:]) - 1
			}
			if upTo > floor[origin] {
				floor[origin] = upTo
			}
			if more {
				break
			}
		}
		for _, k := range drop {
			b.touch(bucketLog, k)
			if err := b.log.Delete(k); err != nil {
				return err
			}
		}
		pruned = len(drop)
		return putCBOR(m, metaFloor, floor)
	})
	return pruned, more, err
}

// LogBytes is the size of the operation log's entries.
func (s *Store) LogBytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.logSize
}
