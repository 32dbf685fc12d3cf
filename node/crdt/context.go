package crdt

import (
	"slices"
)

// Context is a set of dots: every dot a version vector covers, plus a cloud
// of dots beyond it that were seen out of order.
type Context struct {
	VV    VersionVector `cbor:"1,keyasint,omitempty"`
	Cloud []Dot         `cbor:"2,keyasint,omitempty"` // sorted, none covered by VV
}

// ContextOf returns the context holding exactly vv.
func ContextOf(vv VersionVector) Context { return Context{VV: vv} }

// Covers reports whether d is in the context.
func (c Context) Covers(d Dot) bool {
	if c.VV.Covers(d) {
		return true
	}
	_, found := slices.BinarySearchFunc(c.Cloud, d, compareDots)
	return found
}

// IsEmpty reports whether the context holds no dot.
func (c Context) IsEmpty() bool {
	for _, n := range c.VV {
		if n != 0 {
			return false
		}
	}
	return len(c.Cloud) == 0
}

// Clone returns an independent copy.
func (c Context) Clone() Context {
	return Context{VV: c.VV.Clone(), Cloud: slices.Clone(c.Cloud)}
}

// Add puts d into the context, folding the cloud into the vector where it
// becomes contiguous.
func (c *Context) Add(d Dot) {
	if d.Counter == 0 || c.Covers(d) {
		return
	}
	if c.VV == nil {
		c.VV = VersionVector{}
	}
	i, _ := slices.BinarySearchFunc(c.Cloud, d, compareDots)
	c.Cloud = slices.Insert(c.Cloud, i, d)
	c.fold()
}

// Merge adds every dot of o to c.
func (c *Context) Merge(o Context) {
	if c.VV == nil {
		c.VV = VersionVector{}
	}
	c.VV.Merge(o.VV)
	for _, d := range o.Cloud {
		if !c.Covers(d) {
			i, _ := slices.BinarySearchFunc(c.Cloud, d, compareDots)
			c.Cloud = slices.Insert(c.Cloud, i, d)
		}
	}
	c.fold()
}

// fold moves cloud dots that extend the vector contiguously into it and drops
// those it already covers.
func (c *Context) fold() {
	out := c.Cloud[:0]
	for _, d := range c.Cloud { // sorted by node, then counter
		switch have := c.VV[d.Node]; {
		case d.Counter <= have:
		case d.Counter == have+1:
			c.VV[d.Node] = d.Counter
		default:
			out = append(out, d)
		}
	}
	c.Cloud = out
	if len(c.Cloud) == 0 {
		c.Cloud = nil
	}
}

// Without returns the part of c that applied does not already hold: vector
// entries above applied's, and cloud dots applied does not cover. Entries are
// kept whole (an entry n means "every dot up to n"), so the result together
// with applied still covers everything c did.
func (c Context) Without(applied Context) Context {
	var out Context
	for n, v := range c.VV {
		if v > applied.VV[n] {
			if out.VV == nil {
				out.VV = VersionVector{}
			}
			out.VV[n] = v
		}
	}
	for _, d := range c.Cloud {
		if !applied.Covers(d) {
			out.Cloud = append(out.Cloud, d)
		}
	}
	return out
}

func compareDots(a, b Dot) int {
	switch {
	case a.Less(b):
		return -1
	case b.Less(a):
		return 1
	}
	return 0
}
