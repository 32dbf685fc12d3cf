package crdt

import (
	"fmt"
	"maps"
	"slices"

	"github.com/yzma/yzma/node/hlc"
)

// replica is an in-memory replica that accepts operations in any order. It
// composes the exported functions the way the store does.
type replica struct {
	id      NodeID
	applied Context
	keys    map[string]*KeyState
	clock   *hlc.Clock
}

func newReplica(id NodeID, clock *hlc.Clock) *replica {
	return &replica{id: id, keys: map[string]*KeyState{}, clock: clock}
}

func (r *replica) state(key string) *KeyState {
	s, ok := r.keys[key]
	if !ok {
		s = &KeyState{}
		r.keys[key] = s
	}
	return s
}

// read returns the context a client reading key here would carry back.
func (r *replica) read(key string) Context {
	return r.state(key).Observe(r.applied)
}

// local mints an operation on this replica and applies it. observed nil
// means "everything this replica holds for key".
func (r *replica) local(key string, value string, del bool, observed *Context) Op {
	ctx := r.read(key)
	if observed != nil {
		ctx = *observed
	}
	op := Op{Key: []byte(key), Dot: Dot{r.id, r.applied.VV[r.id] + 1}, HLC: r.clock.Now(), Observed: ctx, Delete: del}
	if !del {
		op.Value = []byte(value)
	}
	r.apply(op)
	return op
}

func (r *replica) apply(op Op) {
	if r.applied.Covers(op.Dot) {
		return
	}
	s := r.state(string(op.Key))
	s.Apply(&op, r.applied)
	r.applied.Add(op.Dot)
	s.Compact(r.applied)
	r.gc(string(op.Key))
}

func (r *replica) gc(key string) {
	if s := r.keys[key]; s != nil && s.IsEmpty() {
		delete(r.keys, key)
	}
}

// merge joins o's whole state into r.
func (r *replica) merge(o *replica) {
	keys := slices.Collect(maps.Keys(r.keys))
	keys = append(keys, slices.Collect(maps.Keys(o.keys))...)
	for _, k := range keys {
		b := o.keys[k]
		if b == nil {
			b = &KeyState{}
		}
		r.state(k).Merge(r.applied, b, o.applied)
	}
	r.applied.Merge(o.applied)
	for _, k := range keys {
		if s := r.keys[k]; s != nil {
			s.Compact(r.applied)
		}
		r.gc(k)
	}
}

func (r *replica) clone() *replica {
	c := newReplica(r.id, r.clock)
	c.applied = r.applied.Clone()
	for k, s := range r.keys {
		c.keys[k] = &KeyState{Versions: slices.Clone(s.Versions), Ctx: s.Ctx.Clone()}
	}
	return c
}

// view is what clients can observe: per key, the live versions.
func (r *replica) view() string {
	keys := slices.Sorted(maps.Keys(r.keys))
	out := ""
	for _, k := range keys {
		if len(r.keys[k].Versions) == 0 {
			continue
		}
		out += k + ":"
		for _, v := range r.keys[k].Versions {
			out += fmt.Sprintf(" %v=%s@%d", v.Dot, v.Value, v.HLC)
		}
		out += "\n"
	}
	return out
}
