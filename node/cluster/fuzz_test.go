package cluster

import (
	"bytes"
	"io"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/yzma/yzma/node/crdt"
)

// FuzzDecodeOps: any body decodes to a batch within the limits whose
// operations all have real dots and normalized contexts, or to an error;
// never a panic.
func FuzzDecodeOps(f *testing.F) {
	for _, ops := range [][]crdt.Op{
		nil,
		{{Key: []byte("k"), Dot: crdt.Dot{Node: 1, Counter: 1}, HLC: 5, Value: []byte("v"), Type: "text/plain"}},
		{
			{Key: []byte("a"), Dot: crdt.Dot{Node: 2, Counter: 7}, Observed: crdt.Context{VV: crdt.VersionVector{1: 3}, Cloud: []crdt.Dot{{Node: 3, Counter: 9}}}, Delete: true},
			{Key: []byte("b"), Dot: crdt.Dot{Node: 2, Counter: 8}, Superseded: true},
		},
		{{Key: []byte("u"), Dot: crdt.Dot{Node: 4, Counter: 1}, Observed: crdt.Context{Cloud: []crdt.Dot{{Node: 5, Counter: 2}, {Node: 5, Counter: 1}, {Node: 5, Counter: 2}}}}},
	} {
		b, err := cbor.Marshal(ops)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x9f, 0xff}) // indefinite-length array
	f.Add([]byte{0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, body []byte) {
		ops, err := DecodeOps(bytes.NewReader(body))
		if err != nil {
			return
		}
		if len(ops) > maxBatchOps {
			t.Fatalf("%d operations passed the limit", len(ops))
		}
		for _, op := range ops {
			if op.Dot.Node == 0 || op.Dot.Counter == 0 {
				t.Fatalf("operation with dot %v passed", op.Dot)
			}
			if !op.Observed.Same(op.Observed.Normalize()) {
				t.Fatalf("operation %v kept a context not in normal form: %+v", op.Dot, op.Observed)
			}
		}
	})
}

// FuzzDecodeCompressedOps: any body sent as "Content-Encoding: zstd"
// decompresses and decodes within the limits, or fails; never a panic, and
// never more than maxPeerBody decompressed bytes read.
func FuzzDecodeCompressedOps(f *testing.F) {
	valid, err := cbor.Marshal([]crdt.Op{{Key: []byte("k"), Dot: crdt.Dot{Node: 1, Counter: 1}, Value: bytes.Repeat([]byte("v"), 100)}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(compress(valid))
	f.Add(compress(bytes.Repeat([]byte{0x9f}, 1<<16))) // nested arrays, compressed
	f.Add([]byte("not zstd"))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd}) // a zstd magic number alone
	f.Fuzz(func(t *testing.T, b []byte) {
		body, err := decodedBody(io.NopCloser(bytes.NewReader(b)), encodingZstd)
		if err != nil {
			return
		}
		defer body.Close()
		counted := &countingReader{r: io.LimitReader(body, maxPeerBody)}
		ops, err := DecodeOps(counted)
		if counted.n > maxPeerBody {
			t.Fatalf("%d decompressed bytes read", counted.n)
		}
		if err == nil && len(ops) > maxBatchOps {
			t.Fatalf("%d operations passed the limit", len(ops))
		}
	})
}
