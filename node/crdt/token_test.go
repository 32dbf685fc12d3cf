package crdt

import (
	"bytes"
	"math"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"pgregory.net/rapid"
)

var coreDet = func() cbor.EncMode {
	m, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// checkAppendContext fails unless appendContext writes c exactly as the
// general deterministic encoder does.
func checkAppendContext(t interface {
	Helper()
	Fatal(...any)
	Fatalf(string, ...any)
}, c Context) {
	t.Helper()
	want, err := coreDet.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendContext(nil, c); !bytes.Equal(got, want) {
		t.Fatalf("appendContext(%+v) = %x, want %x", c, got, want)
	}
}

// The hand encoder writes the bytes of cbor's deterministic encoding, for
// every size of every number (each CBOR head length) and of every list.
func TestAppendContext(t *testing.T) {
	edges := []uint64{1, 23, 24, 255, 256, math.MaxUint16, math.MaxUint16 + 1, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64}
	for _, v := range edges {
		checkAppendContext(t, Context{VV: VersionVector{NodeID(v): v}})
		checkAppendContext(t, Context{Cloud: []Dot{{NodeID(v), v}}})
	}
	checkAppendContext(t, Context{})
	rapid.Check(t, func(t *rapid.T) {
		num := rapid.OneOf(rapid.SampledFrom(edges), rapid.Uint64Range(1, 40))
		var c Context
		for range rapid.IntRange(0, 30).Draw(t, "vv") {
			if c.VV == nil {
				c.VV = VersionVector{}
			}
			c.VV[NodeID(num.Draw(t, "node"))] = num.Draw(t, "counter")
		}
		for range rapid.IntRange(0, 30).Draw(t, "cloud") {
			c.Cloud = append(c.Cloud, Dot{NodeID(num.Draw(t, "node")), num.Draw(t, "counter")})
		}
		checkAppendContext(t, c.Normalize())
	})
}

func BenchmarkEncodeToken(b *testing.B) {
	c := Context{VV: VersionVector{0x0123456789abcdef: 123456}}
	for b.Loop() {
		_ = EncodeToken(c)
	}
}
