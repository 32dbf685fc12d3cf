package crdt

import (
	"errors"
	"fmt"
	"slices"
)

// Limits on causal contexts that come from outside the replica: a client's
// token or an operation a peer sends. A context a replica builds itself
// names one entry per origin and a handful of cloud dots; these bounds are
// far above that and keep a hostile input from costing more than a few MiB.
const (
	MaxContextEntries = 1 << 14 // vector entries (origins)
	MaxCloudDots      = 1 << 14
)

// ErrBadContext is returned for a context no replica could have handed out:
// over the limits, or naming a dot with a zero node or counter.
var ErrBadContext = errors.New("invalid causal context")

// Normalize returns c in the one form every replica computes with: zero
// entries dropped, the cloud sorted and without duplicates, without the dots
// the vector covers, and with the dots that extend the vector contiguously
// folded into it. Covers binary-searches the cloud, so a context that skipped
// this step could be read differently by different replicas. A context
// already in normal form (what nodes issue and send: the common case on the
// replication path) is returned as it is, without copying.
func (c Context) Normalize() Context {
	if c.IsNormal() {
		return c
	}
	var out Context
	for n, v := range c.VV {
		if v != 0 {
			if out.VV == nil {
				out.VV = make(VersionVector, len(c.VV))
			}
			out.VV[n] = v
		}
	}
	if len(c.Cloud) == 0 {
		return out
	}
	out.Cloud = slices.Clone(c.Cloud)
	out.Cloud = slices.DeleteFunc(out.Cloud, func(d Dot) bool { return d.Counter == 0 })
	slices.SortFunc(out.Cloud, compareDots)
	out.Cloud = slices.Compact(out.Cloud)
	if out.VV == nil {
		out.VV = VersionVector{}
	}
	out.fold()
	if len(out.VV) == 0 {
		out.VV = nil
	}
	return out
}

// IsNormal reports whether c is in the form Normalize gives: no zero vector
// entry, and a cloud strictly increasing, without zero counters, without
// dots the vector covers or extends (a foldable run always starts at the
// counter right after the vector's).
func (c Context) IsNormal() bool {
	for _, v := range c.VV {
		if v == 0 {
			return false
		}
	}
	for i, d := range c.Cloud {
		if d.Counter <= c.VV[d.Node]+1 || i > 0 && compareDots(c.Cloud[i-1], d) >= 0 {
			return false
		}
	}
	return true
}

// Same reports whether c and o are written identically (same vector
// entries, same cloud in the same order); a nil vector or cloud is the same
// as an empty one.
func (c Context) Same(o Context) bool {
	if len(c.VV) != len(o.VV) || !slices.Equal(c.Cloud, o.Cloud) {
		return false
	}
	for n, v := range c.VV {
		if w, ok := o.VV[n]; !ok || w != v {
			return false
		}
	}
	return true
}

// Check reports ErrBadContext when c is over the limits or names the zero
// node. It does not normalize: call Normalize too.
func (c Context) Check() error {
	if len(c.VV) > MaxContextEntries || len(c.Cloud) > MaxCloudDots {
		return fmt.Errorf("%w: %d vector entries and %d cloud dots (limits %d and %d)",
			ErrBadContext, len(c.VV), len(c.Cloud), MaxContextEntries, MaxCloudDots)
	}
	if _, zero := c.VV[0]; zero {
		return fmt.Errorf("%w: vector names node 0", ErrBadContext)
	}
	for _, d := range c.Cloud {
		if d.Node == 0 {
			return fmt.Errorf("%w: dot %v names node 0", ErrBadContext, d)
		}
	}
	return nil
}

// Beyond reports the first dot of origin that c names above counter: a
// context that claims to have seen writes origin has not made yet.
func (c Context) Beyond(origin NodeID, counter uint64) (Dot, bool) {
	if v := c.VV[origin]; v > counter {
		return Dot{Node: origin, Counter: counter + 1}, true
	}
	for _, d := range c.Cloud {
		if d.Node == origin && d.Counter > counter {
			return d, true
		}
	}
	return Dot{}, false
}

// Check reports an operation no replica could have made: a zero dot, or an
// observed context over the limits. It normalizes the observed context in
// place, so every replica applies the operation the same way.
func (o *Op) Check() error {
	if o.Dot.Node == 0 || o.Dot.Counter == 0 {
		return fmt.Errorf("%w: operation with dot %v", ErrBadContext, o.Dot)
	}
	if err := o.Observed.Check(); err != nil {
		return fmt.Errorf("operation %v: %w", o.Dot, err)
	}
	o.Observed = o.Observed.Normalize()
	return nil
}

// Check reports a key state no replica could hold: versions out of order,
// repeated or with a zero dot, or a context over the limits. It normalizes
// the context in place.
func (s *KeyState) Check() error {
	for i, v := range s.Versions {
		if v.Dot.Node == 0 || v.Dot.Counter == 0 {
			return fmt.Errorf("%w: version with dot %v", ErrBadContext, v.Dot)
		}
		if i > 0 && compareDots(s.Versions[i-1].Dot, v.Dot) >= 0 {
			return fmt.Errorf("%w: versions not in strictly increasing dot order at %v", ErrBadContext, v.Dot)
		}
	}
	if err := s.Ctx.Check(); err != nil {
		return err
	}
	s.Ctx = s.Ctx.Normalize()
	return nil
}
