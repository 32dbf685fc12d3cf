package crdt

import (
	"slices"

	"github.com/yzma/yzma/node/hlc"
)

// Version is one value of a key, as written by the operation with Dot.
type Version struct {
	Dot   Dot           `cbor:"1,keyasint"`
	HLC   hlc.Timestamp `cbor:"2,keyasint"`
	Type  string        `cbor:"3,keyasint,omitempty"`
	Value []byte        `cbor:"4,keyasint"`
	// Expires, when set, is the hybrid time from which the version is no
	// longer live (its write's time plus its TTL): every replica hides it
	// once its own clock reaches that, so replicas agree within their
	// clocks' skew.
	Expires hlc.Timestamp `cbor:"5,keyasint,omitempty"`
}

// Expired reports whether v is no longer live at hybrid time now.
func (v Version) Expired(now hlc.Timestamp) bool { return v.Expires != 0 && v.Expires <= now }

// Expiring reports whether any version of s has an expiry.
func (s *KeyState) Expiring() bool {
	for _, v := range s.Versions {
		if v.Expires != 0 {
			return true
		}
	}
	return false
}

// LiveAt returns the versions of s not expired at now (s.Versions itself
// when none has).
func (s *KeyState) LiveAt(now hlc.Timestamp) []Version {
	for i, v := range s.Versions {
		if v.Expired(now) {
			live := slices.Clone(s.Versions[:i])
			for _, w := range s.Versions[i+1:] {
				if !w.Expired(now) {
					live = append(live, w)
				}
			}
			return live
		}
	}
	return s.Versions
}

// wins reports whether v is shown in preference to o: the higher timestamp,
// then the higher node ID, then the higher counter.
func (v Version) wins(o Version) bool {
	if v.HLC != o.HLC {
		return v.HLC > o.HLC
	}
	if v.Dot.Node != o.Dot.Node {
		return v.Dot.Node > o.Dot.Node
	}
	return v.Dot.Counter > o.Dot.Counter
}

// KeyState is one key on one replica: its live versions (sorted by dot; more
// than one means concurrent siblings) and the observed dots this replica has
// not applied yet (see the package doc).
type KeyState struct {
	Versions []Version `cbor:"1,keyasint,omitempty"`
	Ctx      Context   `cbor:"2,keyasint,omitempty"`
}

// IsEmpty reports whether the state holds nothing worth keeping: no version
// and no knowledge beyond the replica's own context.
func (s *KeyState) IsEmpty() bool { return len(s.Versions) == 0 && s.Ctx.IsEmpty() }

// Shown returns the version a reader sees, and false if the key has none.
func (s *KeyState) Shown() (Version, bool) {
	if len(s.Versions) == 0 {
		return Version{}, false
	}
	best := s.Versions[0]
	for _, v := range s.Versions[1:] {
		if v.wins(best) {
			best = v
		}
	}
	return best, true
}

// Find returns the live version with dot d.
func (s *KeyState) Find(d Dot) (Version, bool) {
	i, ok := slices.BinarySearchFunc(s.Versions, d, func(v Version, d Dot) int { return compareDots(v.Dot, d) })
	if !ok {
		return Version{}, false
	}
	return s.Versions[i], true
}

// Observe returns the causal context of a reader of s on a replica that has
// applied applied: exactly the dots of the live versions, written as a
// version vector wherever the replica has applied every earlier dot of that
// node (always, on a replica that applies each origin in order).
func (s *KeyState) Observe(applied Context) Context {
	var c Context
	for _, v := range s.Versions {
		if v.Dot.Counter <= applied.VV[v.Dot.Node] {
			if c.VV == nil {
				c.VV = VersionVector{}
			}
			if v.Dot.Counter > c.VV[v.Dot.Node] {
				c.VV[v.Dot.Node] = v.Dot.Counter
			}
		} else {
			c.Cloud = append(c.Cloud, v.Dot)
		}
	}
	slices.SortFunc(c.Cloud, compareDots)
	return c
}

// Op is one write or delete of a key. Observed is its causal context: the
// versions it replaces. A write whose value is no longer available (it was
// replaced before being shipped) travels with Superseded set and no value.
type Op struct {
	Key        []byte        `cbor:"1,keyasint"`
	Dot        Dot           `cbor:"2,keyasint"`
	HLC        hlc.Timestamp `cbor:"3,keyasint"`
	Observed   Context       `cbor:"4,keyasint,omitempty"`
	Delete     bool          `cbor:"5,keyasint,omitempty"`
	Superseded bool          `cbor:"6,keyasint,omitempty"`
	Type       string        `cbor:"7,keyasint,omitempty"`
	Value      []byte        `cbor:"8,keyasint,omitempty"`
	Expires    hlc.Timestamp `cbor:"9,keyasint,omitempty"` // a write's expiry (Version.Expires)
}

// Version returns the version a write adds.
func (o *Op) Version() Version {
	return Version{Dot: o.Dot, HLC: o.HLC, Type: o.Type, Value: o.Value, Expires: o.Expires}
}

// Apply applies op to s on a replica whose context, before this op, is
// applied. It removes every version op observed and adds op's version unless
// the op was applied before or something already observed it. The caller then
// adds op.Dot to its context and calls Compact. Apply is idempotent.
func (s *KeyState) Apply(op *Op, applied Context) {
	s.Versions = slices.DeleteFunc(s.Versions, func(v Version) bool { return op.Observed.Covers(v.Dot) })
	if !op.Delete && !op.Superseded && !applied.Covers(op.Dot) && !s.Ctx.Covers(op.Dot) {
		v := op.Version()
		i, found := slices.BinarySearchFunc(s.Versions, op.Dot, func(v Version, d Dot) int { return compareDots(v.Dot, d) })
		if !found {
			s.Versions = slices.Insert(s.Versions, i, v)
		}
	}
	s.Ctx.Merge(op.Observed.Without(applied))
}

// Compact drops the part of the key's extra context that applied now holds.
func (s *KeyState) Compact(applied Context) {
	s.Ctx = s.Ctx.Without(applied)
}

// Merge joins the state of the same key from another replica (state b on a
// replica whose context is bApplied) into s, on a replica whose context is
// applied. A version survives if both sides hold it, or if one side holds it
// and the other has not observed it. The caller merges bApplied into its own
// context afterwards and calls Compact. Merge is commutative, associative and
// idempotent.
func (s *KeyState) Merge(applied Context, b *KeyState, bApplied Context) {
	seenA := func(d Dot) bool { return applied.Covers(d) || s.Ctx.Covers(d) }
	seenB := func(d Dot) bool { return bApplied.Covers(d) || b.Ctx.Covers(d) }
	var out []Version
	for _, v := range s.Versions {
		if _, inB := b.Find(v.Dot); inB || !seenB(v.Dot) {
			out = append(out, v)
		}
	}
	for _, v := range b.Versions {
		if _, inA := s.Find(v.Dot); !inA && !seenA(v.Dot) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(x, y Version) int { return compareDots(x.Dot, y.Dot) })
	s.Versions = out
	s.Ctx.Merge(b.Ctx.Without(applied))
}

// DotContext returns the context that observes exactly d: the token a client
// gets back from a write, so its next write supersedes just that one. It is
// a cloud dot, not a vector entry, which would also cover the node's earlier
// dots, such as a sibling written with a stale token.
func DotContext(d Dot) Context {
	return Context{Cloud: []Dot{d}}
}
