package crdt

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/yzma/yzma/node/hlc"
)

// fixedClock returns a clock stuck at wall time ms, so HLCs only tick
// logically: a way to put one replica's clock far behind another's.
func fixedClock(ms int64) *hlc.Clock {
	return hlc.NewClock(func() time.Time { return time.UnixMilli(ms) }, 0)
}

func deliver(to *replica, ops ...Op) {
	for _, op := range ops {
		to.apply(op)
	}
}

func shown(t *testing.T, r *replica, key string) string {
	t.Helper()
	s := r.keys[key]
	if s == nil {
		return "<absent>"
	}
	v, ok := s.Shown()
	if !ok {
		return "<absent>"
	}
	return string(v.Value)
}

func TestScenarios(t *testing.T) {
	tests := []struct {
		name string
		run  func(a, b, c *replica) []Op // returns every op, for final delivery
		want string                      // value shown for "k" on every replica
		sibs int
	}{
		{
			name: "causal overwrite beats a clock far ahead",
			run: func(a, b, _ *replica) []Op {
				a.clock = fixedClock(1e12) // a is hours ahead
				b.clock = fixedClock(1)
				w1 := a.local("k", "old", false, nil)
				deliver(b, w1)
				w2 := b.local("k", "new", false, nil)
				return []Op{w1, w2}
			},
			want: "new", sibs: 1,
		},
		{
			name: "delete concurrent with a write keeps the write",
			run: func(a, b, _ *replica) []Op {
				w1 := a.local("k", "v1", false, nil)
				deliver(b, w1)
				del := b.local("k", "", true, nil)
				w2 := a.local("k", "v2", false, nil)
				return []Op{w1, del, w2}
			},
			want: "v2", sibs: 1,
		},
		{
			name: "delete removes every sibling it observed",
			run: func(a, b, c *replica) []Op {
				w1 := a.local("k", "v1", false, nil)
				w2 := b.local("k", "v2", false, nil)
				deliver(c, w1, w2)
				del := c.local("k", "", true, nil)
				return []Op{del, w1, w2}
			},
			want: "<absent>",
		},
		{
			name: "delete that overtakes the write it removed",
			run: func(a, b, c *replica) []Op {
				w := a.local("k", "v", false, nil)
				deliver(b, w)
				del := b.local("k", "", true, nil)
				deliver(c, del) // c has not seen w yet
				return []Op{w, del}
			},
			want: "<absent>",
		},
		{
			name: "concurrent writes are siblings, same shown value everywhere",
			run: func(a, b, _ *replica) []Op {
				return []Op{a.local("k", "from-a", false, nil), b.local("k", "from-b", false, nil)}
			},
			want: "from-b", sibs: 2, // same wall time: higher node ID wins
		},
		{
			name: "write with a stale token keeps what it did not see",
			run: func(a, b, _ *replica) []Op {
				w1 := a.local("k", "v1", false, nil)
				deliver(b, w1)
				token := b.read("k")
				w2 := a.local("k", "v2", false, nil)
				deliver(b, w2)
				w3 := b.local("k", "v3", false, &token)
				return []Op{w1, w2, w3}
			},
			want: "v3", sibs: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := fixedClock(1000)
			a, b, c := newReplica(1, clock), newReplica(2, clock), newReplica(3, clock)
			ops := tt.run(a, b, c)
			for _, r := range []*replica{a, b, c} {
				deliver(r, ops...)
				if got := shown(t, r, "k"); got != tt.want {
					t.Errorf("replica %v shows %q, want %q", r.id, got, tt.want)
				}
				if s := r.keys["k"]; s != nil && len(s.Versions) != tt.sibs || s == nil && tt.sibs != 0 {
					t.Errorf("replica %v has %d versions, want %d: %s", r.id, len(s.Versions), tt.sibs, r.view())
				}
			}
		})
	}
}

// history runs a random interleaving of local operations and partial
// deliveries on n replicas and returns them with every op minted.
func history(t *rapid.T, n int) ([]*replica, []Op) {
	keys := []string{"a", "b", "c"}
	rs := make([]*replica, n)
	for i := range rs {
		// Independent skewed clocks: HLC order must never matter for causality.
		rs[i] = newReplica(NodeID(i+1), fixedClock(rapid.Int64Range(1, 1e6).Draw(t, "clock")))
	}
	var ops []Op
	var tokens []Context
	steps := rapid.IntRange(1, 40).Draw(t, "steps")
	for i := 0; i < steps; i++ {
		r := rs[rapid.IntRange(0, n-1).Draw(t, "replica")]
		key := rapid.SampledFrom(keys).Draw(t, "key")
		switch rapid.IntRange(0, 4).Draw(t, "action") {
		case 0, 1: // write observing what is here
			ops = append(ops, r.local(key, fmt.Sprint("v", i), false, nil))
		case 2: // delete, or write with a token read earlier anywhere
			var tok *Context
			if len(tokens) > 0 && rapid.Bool().Draw(t, "useToken") {
				tok = &tokens[rapid.IntRange(0, len(tokens)-1).Draw(t, "token")]
			}
			ops = append(ops, r.local(key, fmt.Sprint("v", i), rapid.Bool().Draw(t, "delete"), tok))
		case 3: // read, keeping the token
			tokens = append(tokens, r.read(key))
		case 4: // deliver some op, possibly again
			if len(ops) > 0 {
				r.apply(ops[rapid.IntRange(0, len(ops)-1).Draw(t, "op")])
			}
		}
	}
	return rs, ops
}

// spec is the add-wins observed-remove set: the writes no operation observed.
func spec(ops []Op) map[string][]Dot {
	out := map[string][]Dot{}
	for _, w := range ops {
		if w.Delete {
			continue
		}
		observed := slices.ContainsFunc(ops, func(o Op) bool { return string(o.Key) == string(w.Key) && o.Observed.Covers(w.Dot) })
		if !observed {
			out[string(w.Key)] = append(out[string(w.Key)], w.Dot)
		}
	}
	return out
}

func TestOpsConvergeInAnyOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rs, ops := history(t, rapid.IntRange(2, 4).Draw(t, "replicas"))
		want := spec(ops)
		for _, r := range rs {
			// Every op, in a random order, some twice.
			order := rapid.Permutation(ops).Draw(t, "order")
			if len(ops) > 0 {
				order = append(order, rapid.SliceOfN(rapid.SampledFrom(ops), 0, 5).Draw(t, "dups")...)
			}
			deliver(r, order...)
			deliver(r, ops...) // a duplicate of everything changes nothing
			for key, dots := range want {
				got := []Dot{}
				for _, v := range r.keys[key].Versions {
					got = append(got, v.Dot)
				}
				slices.SortFunc(dots, compareDots)
				if !slices.Equal(got, dots) {
					t.Fatalf("replica %v key %q: versions %v, want %v", r.id, key, got, dots)
				}
			}
			for key, s := range r.keys {
				if len(s.Versions) > 0 && len(want[key]) == 0 {
					t.Fatalf("replica %v key %q: %v survived, want none", r.id, key, s.Versions)
				}
			}
			if r.view() != rs[0].view() {
				t.Fatalf("replica %v diverged:\n%s\nvs replica %v:\n%s", r.id, r.view(), rs[0].id, rs[0].view())
			}
			if len(r.applied.Cloud) != 0 {
				t.Fatalf("replica %v: context did not fold after full delivery: %+v", r.id, r.applied)
			}
		}
	})
}

func merged(a, b *replica) *replica {
	out := a.clone()
	out.merge(b)
	return out
}

func TestStateMergeLaws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rs, ops := history(t, 3)
		a, b, c := rs[0], rs[1], rs[2]
		if got, want := merged(a, b).view(), merged(b, a).view(); got != want {
			t.Fatalf("not commutative:\n%s\nvs\n%s", got, want)
		}
		if got, want := merged(merged(a, b), c).view(), merged(a, merged(b, c)).view(); got != want {
			t.Fatalf("not associative:\n%s\nvs\n%s", got, want)
		}
		if got, want := merged(a, a).view(), a.view(); got != want {
			t.Fatalf("not idempotent:\n%s\nvs\n%s", got, want)
		}
		// State merge and op delivery agree: merging everyone equals
		// delivering every op.
		all := merged(merged(a, b), c)
		full := newReplica(99, a.clock)
		deliver(full, ops...)
		if all.view() != full.view() {
			t.Fatalf("merge of states:\n%s\ndiffers from delivery of all ops:\n%s", all.view(), full.view())
		}
		// A replica that merges a snapshot then receives the ops again
		// (deltas after a snapshot) changes nothing.
		deliver(all, ops...)
		if all.view() != full.view() {
			t.Fatalf("ops after merge changed the state")
		}
	})
}

func TestShownIsDeterministic(t *testing.T) {
	s := KeyState{Versions: []Version{
		{Dot: Dot{1, 1}, HLC: 5, Value: []byte("a")},
		{Dot: Dot{2, 1}, HLC: 5, Value: []byte("b")},
		{Dot: Dot{3, 1}, HLC: 4, Value: []byte("c")},
	}}
	v, ok := s.Shown()
	if !ok || string(v.Value) != "b" {
		t.Fatalf("shown %q, want b (highest HLC, then node ID)", v.Value)
	}
	if _, ok := (&KeyState{}).Shown(); ok {
		t.Fatal("empty state shows a version")
	}
}

func TestTokenRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   Context
	}{
		{"empty", Context{}},
		{"vector", Context{VV: VersionVector{1: 3, 0xffffffffffffffff: 9}}},
		{"cloud", Context{VV: VersionVector{1: 3}, Cloud: []Dot{{2, 5}, {2, 9}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeToken(EncodeToken(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range []Dot{{1, 3}, {1, 4}, {2, 5}, {2, 6}, {0xffffffffffffffff, 9}} {
				if got.Covers(d) != tt.in.Covers(d) {
					t.Fatalf("round trip changed coverage of %v", d)
				}
			}
		})
	}
	for _, bad := range []string{"!!", "AAAA", "////"} {
		if _, err := DecodeToken(bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("DecodeToken(%q) = %v, want ErrBadToken", bad, err)
		}
	}
}

func TestWriteTokenSupersedesOnlyThatWrite(t *testing.T) {
	a := newReplica(1, fixedClock(1))
	empty := Context{}
	a.local("k", "b", false, nil)
	c := a.local("k", "c", false, &empty) // a sibling of b, with a higher counter
	tok := DotContext(c.Dot)
	a.local("k", "", true, &tok)
	if got := shown(t, a, "k"); got != "b" {
		t.Fatalf("deleting with c's write token left %q, want b", got)
	}
}
