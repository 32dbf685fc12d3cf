package store

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/yzma/yzma/node/crdt"
)

// FuzzSnapshotDecode: any stream gives a header and records in strictly
// increasing key order with valid states, or ErrBadSnapshot; never a panic.
func FuzzSnapshotDecode(f *testing.F) {
	seed := func(items ...any) []byte {
		var buf bytes.Buffer
		e := encMode.NewEncoder(&buf)
		for _, it := range items {
			if err := e.Encode(it); err != nil {
				f.Fatal(err)
			}
		}
		return buf.Bytes()
	}
	v := func(n crdt.NodeID, c uint64, val string) crdt.Version {
		return crdt.Version{Dot: crdt.Dot{Node: n, Counter: c}, HLC: 9, Value: []byte(val)}
	}
	hdr := snapshotHeader{VV: crdt.VersionVector{2: 4, 3: 1}}
	f.Add(seed(hdr))
	f.Add(seed(hdr, keyRecord{Key: []byte("a"), State: crdt.KeyState{Versions: []crdt.Version{v(2, 1, "x")}}},
		keyRecord{Key: []byte("b"), State: crdt.KeyState{Versions: []crdt.Version{v(2, 2, "y"), v(3, 1, "z")}, Ctx: crdt.Context{Cloud: []crdt.Dot{{Node: 4, Counter: 3}}}}}))
	f.Add(seed(hdr, keyRecord{Key: []byte("b")}, keyRecord{Key: []byte("a")}))
	f.Add(seed(snapshotHeader{VV: crdt.VersionVector{1: 99}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, stream []byte) {
		const self, minted = 1, 5
		sr := newSnapshotReader(bytes.NewReader(stream), self, minted)
		hdr, err := sr.header()
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("header: %v, want ErrBadSnapshot", err)
			}
			return
		}
		if hdr.VV[self] > minted {
			t.Fatalf("header claims %d of our operations", hdr.VV[self])
		}
		var last []byte
		for {
			rec, err := sr.next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrBadSnapshot) {
					t.Fatalf("record: %v, want ErrBadSnapshot", err)
				}
				return
			}
			if last != nil && bytes.Compare(rec.Key, last) <= 0 {
				t.Fatalf("key %q after %q passed", rec.Key, last)
			}
			if err := checkKey(rec.Key); err != nil {
				t.Fatalf("key %q passed: %v", rec.Key, err)
			}
			st := rec.State
			if err := st.Check(); err != nil {
				t.Fatalf("state of %q passed but fails Check: %v", rec.Key, err)
			}
			last = rec.Key
		}
	})
}
