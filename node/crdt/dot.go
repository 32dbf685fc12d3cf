package crdt

import (
	"fmt"
	"strconv"
)

// NodeID identifies the replica that minted a dot. It is random and persisted
// with the data, never derived from a host or pod name, so a fresh data file
// never reuses dots.
type NodeID uint64

// String returns the ID as 16 hex digits.
func (n NodeID) String() string { return fmt.Sprintf("%016x", uint64(n)) }

// ParseNodeID parses the form String returns.
func ParseNodeID(s string) (NodeID, error) {
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("parse node ID %q: %w", s, err)
	}
	return NodeID(v), nil
}

// Dot names one write: the Counter-th operation minted by Node.
type Dot struct {
	Node    NodeID `cbor:"1,keyasint"`
	Counter uint64 `cbor:"2,keyasint"`
}

func (d Dot) String() string { return fmt.Sprintf("%s:%d", d.Node, d.Counter) }

// Less orders dots by node, then counter.
func (d Dot) Less(o Dot) bool {
	if d.Node != o.Node {
		return d.Node < o.Node
	}
	return d.Counter < o.Counter
}

// VersionVector maps each node to the highest counter seen from it, where
// seeing counter n means seeing every counter up to n.
type VersionVector map[NodeID]uint64

// Covers reports whether d is at or below the vector.
func (v VersionVector) Covers(d Dot) bool { return d.Counter != 0 && d.Counter <= v[d.Node] }

// Clone returns an independent copy.
func (v VersionVector) Clone() VersionVector {
	out := make(VersionVector, len(v))
	for n, c := range v {
		out[n] = c
	}
	return out
}

// Merge raises v to the pointwise maximum of v and o.
func (v VersionVector) Merge(o VersionVector) {
	for n, c := range o {
		if c > v[n] {
			v[n] = c
		}
	}
}

// Dominates reports whether v has seen everything o has.
func (v VersionVector) Dominates(o VersionVector) bool {
	for n, c := range o {
		if v[n] < c {
			return false
		}
	}
	return true
}

// Equal reports whether both vectors have seen exactly the same (a missing
// entry equals zero).
func (v VersionVector) Equal(o VersionVector) bool { return v.Dominates(o) && o.Dominates(v) }

// Behind returns how many operations v lacks compared to o.
func (v VersionVector) Behind(o VersionVector) uint64 {
	var n uint64
	for id, c := range o {
		if have := v[id]; c > have {
			n += c - have
		}
	}
	return n
}

// Min returns the pointwise minimum of the vectors: what all of them have seen.
// A node missing from any vector is missing from the result.
func Min(vs ...VersionVector) VersionVector {
	if len(vs) == 0 {
		return VersionVector{}
	}
	out := vs[0].Clone()
	for _, v := range vs[1:] {
		for n, c := range out {
			if vc := v[n]; vc < c {
				if vc == 0 {
					delete(out, n)
				} else {
					out[n] = vc
				}
			}
		}
	}
	return out
}
