package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"

	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/wire"
)

// snapshotHeader starts a snapshot stream; keyRecords follow in key order.
type snapshotHeader struct {
	VV crdt.VersionVector `cbor:"1,keyasint"`
}

type keyRecord struct {
	Key   []byte        `cbor:"1,keyasint"`
	State crdt.KeyState `cbor:"2,keyasint"`
}

// Bounds of snapshot streams.
const (
	// snapshotChunkKeys and snapshotChunkBytes bound one read transaction
	// of WriteSnapshot and one merge transaction of ApplySnapshot.
	snapshotChunkKeys  = 1000
	snapshotChunkBytes = 4 << 20
	// MaxSnapshotRecord bounds one record of a snapshot stream: a key with
	// its siblings and their values.
	MaxSnapshotRecord = 256 << 20
)

// snapshotDec decodes a peer's snapshot stream (peer input: explicit limits).
var snapshotDec = wire.Limits{MaxNested: 8, MaxElements: 1 << 16, MaxPairs: crdt.MaxContextEntries}.DecMode()

// WriteSnapshot streams the whole key state to w: a header with a version
// vector, then every key in order. The keys are read in short transactions
// of bounded size, each released before its part is written, so a slow
// reader holds up nothing. The header's vector was committed before the
// first of them began, so every key state in the stream reflects at least
// what the header claims: a merge (KeyState.Merge) with a claim lower than
// the truth only keeps versions the operations after the header then remove,
// never drops one it should keep.
func (s *Store) WriteSnapshot(w io.Writer) error {
	enc := encMode.NewEncoder(w)
	if err := enc.Encode(snapshotHeader{VV: s.VersionVector()}); err != nil {
		return fmt.Errorf("write snapshot header: %w", err)
	}
	var buf bytes.Buffer
	var after []byte
	for {
		buf.Reset()
		benc := encMode.NewEncoder(&buf)
		n := 0
		err := s.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketKeys).Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && n < snapshotChunkKeys && buf.Len() < snapshotChunkBytes; k, v = c.Next() {
				rec := keyRecord{Key: k}
				if err := unmarshal(v, &rec.State); err != nil {
					return fmt.Errorf("decode key %q: %w", k, err)
				}
				if err := benc.Encode(rec); err != nil {
					return err
				}
				after = bytes.Clone(k)
				n++
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("write snapshot: %w", err)
		}
		if n == 0 {
			return nil
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return fmt.Errorf("write snapshot: %w", err)
		}
	}
}

// ErrBadSnapshot is returned for a snapshot stream no replica could have
// written: keys out of order, a malformed record, or a claim on this
// process's own origin.
var ErrBadSnapshot = errors.New("malformed snapshot")

// snapshotReader decodes and checks a snapshot stream.
type snapshotReader struct {
	dec     *wire.Stream
	last    []byte
	self    crdt.NodeID
	minted  uint64
	records int
}

func newSnapshotReader(r io.Reader, self crdt.NodeID, minted uint64) *snapshotReader {
	return &snapshotReader{dec: wire.NewStream(snapshotDec, r, MaxSnapshotRecord), self: self, minted: minted}
}

func (sr *snapshotReader) header() (snapshotHeader, error) {
	var hdr snapshotHeader
	if err := sr.dec.Decode(&hdr); err != nil {
		return hdr, fmt.Errorf("%w: header: %w", ErrBadSnapshot, err)
	}
	if err := (crdt.Context{VV: hdr.VV}).Check(); err != nil {
		return hdr, fmt.Errorf("%w: header: %w", ErrBadSnapshot, err)
	}
	if hdr.VV[sr.self] > sr.minted {
		return hdr, fmt.Errorf("%w: header claims %d operations of this node's origin, which made %d", ErrBadSnapshot, hdr.VV[sr.self], sr.minted)
	}
	return hdr, nil
}

// next returns the next record; io.EOF at the end.
func (sr *snapshotReader) next() (keyRecord, error) {
	var rec keyRecord
	if err := sr.dec.Decode(&rec); errors.Is(err, io.EOF) {
		return rec, io.EOF
	} else if err != nil {
		return rec, fmt.Errorf("%w: record %d: %w", ErrBadSnapshot, sr.records, err)
	}
	sr.records++
	if err := checkKey(rec.Key); err != nil {
		return rec, fmt.Errorf("%w: record %d: %w", ErrBadSnapshot, sr.records, err)
	}
	if sr.last != nil && bytes.Compare(rec.Key, sr.last) <= 0 {
		return rec, fmt.Errorf("%w: key %q does not follow %q", ErrBadSnapshot, rec.Key, sr.last)
	}
	if err := rec.State.Check(); err != nil {
		return rec, fmt.Errorf("%w: key %q: %w", ErrBadSnapshot, rec.Key, err)
	}
	for _, v := range rec.State.Versions {
		if v.Dot.Node == sr.self && v.Dot.Counter > sr.minted {
			return rec, fmt.Errorf("%w: key %q holds %v, which this node has not made", ErrBadSnapshot, rec.Key, v.Dot)
		}
	}
	if d, beyond := rec.State.Ctx.Beyond(sr.self, sr.minted); beyond {
		return rec, fmt.Errorf("%w: key %q has observed %v, which this node has not made", ErrBadSnapshot, rec.Key, d)
	}
	sr.last = rec.Key
	return rec, nil
}

// ApplySnapshot merges a peer's snapshot (from WriteSnapshot) into this
// replica, key by key, in transactions bounded by keys and bytes, then
// adopts the version vector it reflects. Remote operations wait meanwhile;
// local writes go on. The log cannot serve operations it skipped, so its
// floor moves up for them. A malformed stream is ErrBadSnapshot; the chunks
// merged before it stay merged (each is a valid merge on its own).
func (s *Store) ApplySnapshot(ctx context.Context, r io.Reader) error {
	return s.ApplySnapshotChecked(ctx, r, nil)
}

// ApplySnapshotChecked is ApplySnapshot with check, when not nil, vetting
// the header's version vector before anything is merged: the caller knows
// what the other members have made (see package cluster). Its error is
// returned wrapped in ErrBadSnapshot.
func (s *Store) ApplySnapshotChecked(ctx context.Context, r io.Reader, check func(crdt.VersionVector) error) error {
	_, err := s.applySnapshot(ctx, r, check)
	return err
}

// applySnapshot is ApplySnapshotChecked; it returns the records merged.
func (s *Store) applySnapshot(ctx context.Context, r io.Reader, check func(crdt.VersionVector) error) (int, error) {
	s.remoteMu.Lock()
	defer s.remoteMu.Unlock()
	sr := newSnapshotReader(r, s.origin, s.VersionVector()[s.origin])
	hdr, err := sr.header()
	if err != nil {
		return 0, err
	}
	if check != nil {
		if err := check(hdr.VV); err != nil {
			return 0, fmt.Errorf("%w: header: %w", ErrBadSnapshot, err)
		}
	}
	remote := crdt.ContextOf(hdr.VV)
	var last []byte // local keys up to here are merged
	for done := false; !done; {
		var chunk []keyRecord
		var size int64
		for len(chunk) < snapshotChunkKeys && size < snapshotChunkBytes {
			rec, err := sr.next()
			if errors.Is(err, io.EOF) {
				done = true
				break
			} else if err != nil {
				return sr.records, err
			}
			chunk = append(chunk, rec)
			size += int64(len(rec.Key))
			for _, v := range rec.State.Versions {
				size += int64(len(v.Value))
			}
		}
		err := s.do(ctx, size, false, func(b *batch) error {
			return b.mergeChunk(chunk, remote, last, done)
		})
		if err != nil {
			return sr.records, fmt.Errorf("apply snapshot: %w", err)
		}
		if len(chunk) > 0 {
			last = chunk[len(chunk)-1].Key
		}
	}
	err = s.do(ctx, 0, false, func(b *batch) error {
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
	return sr.records, err
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
	if err := b.putState(key, &st); err != nil {
		return err
	}
	b.countLive(live, len(st.Versions) > 0)
	return nil
}
