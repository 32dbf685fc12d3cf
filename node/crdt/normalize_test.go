package crdt

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"pgregory.net/rapid"
)

// scramble writes the dots of c another way: part of each vector entry as
// cloud dots, dots the vector already covers, repeats, any order.
func scramble(t *rapid.T, c Context) Context {
	out := Context{VV: VersionVector{}}
	var cloud []Dot
	for n, v := range c.VV {
		keep := rapid.Uint64Range(0, v).Draw(t, "keep")
		if keep > 0 {
			out.VV[n] = keep
			if rapid.Bool().Draw(t, "covered") {
				cloud = append(cloud, Dot{n, rapid.Uint64Range(1, keep).Draw(t, "coveredDot")})
			}
		}
		for i := keep + 1; i <= v; i++ {
			cloud = append(cloud, Dot{n, i})
		}
	}
	cloud = append(cloud, c.Cloud...)
	if len(cloud) > 0 {
		cloud = append(cloud, rapid.SliceOfN(rapid.SampledFrom(cloud), 0, 4).Draw(t, "repeats")...)
		cloud = rapid.Permutation(cloud).Draw(t, "order")
	}
	out.Cloud = cloud
	return out
}

// TestNormalizeIsOrderFree: the same dots, in any order and with repeats,
// normalize to the same context, cover the same dots, and make replicas
// that apply an operation observing them end in the same state.
func TestNormalizeIsOrderFree(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rs, _ := history(t, 2)
		a := rs[0]
		key := rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "key")
		orig := a.read(key)
		if len(orig.VV) == 0 && len(orig.Cloud) == 0 {
			orig = a.applied.Clone() // observe everything instead
		}
		mixed := scramble(t, orig)
		n1, n2 := orig.Normalize(), mixed.Normalize()
		if !n1.Same(n2) {
			t.Fatalf("normal forms differ: %+v vs %+v (from %+v)", n1, n2, mixed)
		}
		if !n1.Same(n1.Normalize()) || !n1.IsNormal() {
			t.Fatalf("Normalize is not idempotent: %+v", n1)
		}
		if mixed.IsNormal() != mixed.Same(n2) {
			t.Fatalf("IsNormal(%+v) = %v, but its normal form is %+v", mixed, mixed.IsNormal(), n2)
		}
		for node := range a.applied.VV {
			for c := uint64(1); c <= a.applied.VV[node]+2; c++ {
				d := Dot{node, c}
				if n2.Covers(d) != orig.Covers(d) {
					t.Fatalf("coverage of %v changed: %v, want %v", d, n2.Covers(d), orig.Covers(d))
				}
			}
		}
		// Two replicas with the same state apply the same write, one with
		// the context as read and one with its scrambled twin checked as a
		// peer's operation is (Op.Check normalizes).
		r1, r2 := a.clone(), a.clone()
		op1 := Op{Key: []byte(key), Dot: Dot{77, 1}, HLC: 1, Observed: orig, Value: []byte("x")}
		op2 := op1
		op2.Observed = mixed
		if err := op2.Check(); err != nil {
			t.Fatal(err)
		}
		r1.apply(op1)
		r2.apply(op2)
		if r1.view() != r2.view() {
			t.Fatalf("replicas differ:\n%s\nvs\n%s", r1.view(), r2.view())
		}
		// A token is always issued normalized, and one written otherwise
		// is refused rather than guessed at.
		if got, err := DecodeToken(EncodeToken(mixed)); err != nil || !got.Same(n1) {
			t.Fatalf("token of the scrambled context: %+v, %v", got, err)
		}
		raw, err := cbor.Marshal(mixed)
		if err != nil {
			t.Fatal(err)
		}
		_, err = DecodeToken(base64.RawURLEncoding.EncodeToString(raw))
		if mixed.Same(n1) != (err == nil) {
			t.Fatalf("token not in normal form: accepted=%v, normal=%v (%v)", err == nil, mixed.Same(n1), err)
		}
	})
}

func TestCheckRefusesImpossibleContexts(t *testing.T) {
	big := VersionVector{}
	for i := range MaxContextEntries + 1 {
		big[NodeID(i+1)] = 1
	}
	tests := []struct {
		name string
		c    Context
	}{
		{"node zero in vector", Context{VV: VersionVector{0: 3}}},
		{"node zero in cloud", Context{Cloud: []Dot{{0, 4}}}},
		{"too many entries", Context{VV: big}},
		{"too many dots", Context{Cloud: make([]Dot, MaxCloudDots+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.c.Check(); !errors.Is(err, ErrBadContext) {
				t.Fatalf("Check = %v, want ErrBadContext", err)
			}
			raw, _ := cbor.Marshal(tt.c)
			if _, err := DecodeToken(base64.RawURLEncoding.EncodeToString(raw)); !errors.Is(err, ErrBadToken) {
				t.Fatalf("DecodeToken = %v, want ErrBadToken", err)
			}
		})
	}
	op := Op{Dot: Dot{1, 0}}
	if err := op.Check(); !errors.Is(err, ErrBadContext) {
		t.Fatalf("op with counter 0: %v", err)
	}
	st := KeyState{Versions: []Version{{Dot: Dot{2, 1}}, {Dot: Dot{1, 1}}}}
	if err := st.Check(); !errors.Is(err, ErrBadContext) {
		t.Fatalf("versions out of order: %v", err)
	}
}

func TestBeyond(t *testing.T) {
	c := Context{VV: VersionVector{5: 3}, Cloud: []Dot{{6, 9}}}
	for _, tt := range []struct {
		origin NodeID
		minted uint64
		want   bool
	}{{5, 3, false}, {5, 2, true}, {6, 9, false}, {6, 8, true}, {7, 0, false}} {
		if _, got := c.Beyond(tt.origin, tt.minted); got != tt.want {
			t.Errorf("Beyond(%v, %d) = %v, want %v", tt.origin, tt.minted, got, tt.want)
		}
	}
}
