package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"

	"github.com/yzma/yzma/node/crdt"
)

// snapshotHeader starts a snapshot stream; keyRecords follow in key order.
type snapshotHeader struct {
	VV crdt.VersionVector `cbor:"1,keyasint"`
}

type keyRecord struct {
	Key   []byte        `cbor:"1,keyasint"`
	State crdt.KeyState `cbor:"2,keyasint"`
}

// snapshotChunk bounds how many keys one transaction of ApplySnapshot merges.
const snapshotChunk = 1000

// WriteSnapshot streams the whole key state, as of one read transaction, to
// w: a header with the version vector it reflects, then every key in order.
func (s *Store) WriteSnapshot(w io.Writer) error {
	enc := encMode.NewEncoder(w)
	return s.view(func(tx *bolt.Tx) error {
		vv := crdt.VersionVector{}
		if err := getCBOR(tx.Bucket(bucketMeta), metaVV, &vv); err != nil {
			return err
		}
		if err := enc.Encode(snapshotHeader{VV: vv}); err != nil {
			return fmt.Errorf("write snapshot header: %w", err)
		}
		return tx.Bucket(bucketKeys).ForEach(func(k, v []byte) error {
			var rec keyRecord
			rec.Key = k
			if err := unmarshal(v, &rec.State); err != nil {
				return fmt.Errorf("decode key %q: %w", k, err)
			}
			if err := enc.Encode(rec); err != nil {
				return fmt.Errorf("write snapshot: %w", err)
			}
			return nil
		})
	})
}

// ApplySnapshot merges a peer's snapshot (from WriteSnapshot) into this
// replica, key by key, in bounded transactions, then adopts the version
// vector it reflects. Remote operations wait meanwhile; local writes go on.
// The log cannot serve operations it skipped, so its floor moves up for them.
func (s *Store) ApplySnapshot(ctx context.Context, r io.Reader) error {
	s.remoteMu.Lock()
	defer s.remoteMu.Unlock()
	dec := decMode.NewDecoder(r)
	var hdr snapshotHeader
	if err := dec.Decode(&hdr); err != nil {
		return fmt.Errorf("read snapshot header: %w", err)
	}
	remote := crdt.ContextOf(hdr.VV)
	var last []byte // local keys up to here are merged
	for done := false; !done; {
		var chunk []keyRecord
		for len(chunk) < snapshotChunk {
			var rec keyRecord
			if err := dec.Decode(&rec); errors.Is(err, io.EOF) {
				done = true
				break
			} else if err != nil {
				return fmt.Errorf("read snapshot: %w", err)
			}
			chunk = append(chunk, rec)
		}
		err := s.do(ctx, func(b *batch) error {
			return b.mergeChunk(chunk, remote, last, done)
		})
		if err != nil {
			return fmt.Errorf("apply snapshot: %w", err)
		}
		if len(chunk) > 0 {
			last = chunk[len(chunk)-1].Key
		}
	}
	return s.do(ctx, func(b *batch) error {
		m := b.tx.Bucket(bucketMeta)
		floor := crdt.VersionVector{}
		if err := getCBOR(m, metaFloor, &floor); err != nil {
			return err
		}
		for origin, c := range hdr.VV {
			if c > b.vv[origin] {
				floor[origin] = max(floor[origin], c)
			}
		}
		b.vv.Merge(hdr.VV)
		return putCBOR(m, metaFloor, floor)
	})
}

// mergeChunk merges snapshot records, and the local keys after last that
// the snapshot skips (up to the chunk's last key, or all when final), into
// the local state.
func (b *batch) mergeChunk(chunk []keyRecord, remote crdt.Context, last []byte, final bool) error {
	var upTo []byte
	if len(chunk) > 0 {
		upTo = chunk[len(chunk)-1].Key
	}
	// Local keys the snapshot lacks: the peer may have deleted them.
	var absent [][]byte
	c := b.keys.Cursor()
	k, _ := c.First()
	if last != nil {
		k, _ = c.Seek(append(bytes.Clone(last), 0))
	}
	i := 0
	for ; k != nil && (final || bytes.Compare(k, upTo) <= 0); k, _ = c.Next() {
		for i < len(chunk) && bytes.Compare(chunk[i].Key, k) < 0 {
			i++
		}
		if i < len(chunk) && bytes.Equal(chunk[i].Key, k) {
			continue
		}
		absent = append(absent, bytes.Clone(k))
	}
	for _, k := range absent {
		if err := b.merge(k, &crdt.KeyState{}, remote); err != nil {
			return err
		}
	}
	for i := range chunk {
		if err := b.merge(chunk[i].Key, &chunk[i].State, remote); err != nil {
			return err
		}
	}
	return nil
}

func (b *batch) merge(key []byte, theirs *crdt.KeyState, remote crdt.Context) error {
	st, err := b.load(key)
	if err != nil {
		return err
	}
	live := len(st.Versions) > 0
	applied := crdt.ContextOf(b.vv)
	st.Merge(applied, theirs, remote)
	st.Compact(applied)
	if st.IsEmpty() {
		err = b.keys.Delete(key)
	} else {
		err = putCBOR(b.keys, key, st)
	}
	if err != nil {
		return fmt.Errorf("store key: %w", err)
	}
	b.countLive(live, len(st.Versions) > 0)
	return nil
}
