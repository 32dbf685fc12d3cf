// Package crdt holds Yzma's replicated data type: per key, an add-wins
// observed-remove set of versions. It does no I/O; the store persists what it
// computes and the cluster layer ships the operations it produces.
//
// Every write is identified by a Dot (the writing node's ID and that node's
// per-write counter) and stamped with a hybrid logical clock timestamp. A write
// or a delete carries its causal context: the dots it observed. Applying it
// removes exactly the observed versions and, for a write, adds the new one.
// Versions that no operation observed survive side by side as siblings, and
// Shown picks the one a reader sees by a rule that is the same on every node
// (highest timestamp, then node ID, then counter). Timestamps never decide
// between causally ordered writes: an overwrite removes what it observed
// whatever the clocks say.
//
// Each replica summarises what it has applied in a Context (a VersionVector
// plus any dots beyond it). A KeyState keeps, besides its versions, only the
// knowledge that goes beyond that summary: the dots an operation observed
// before this replica received them. A version arriving later that such a
// context already covers is dropped, so a delete that overtakes the write it
// removed never lets that write come back. Once the replica's own summary
// covers that extra knowledge it is dropped (Compact), so deleted keys leave no
// tombstones behind.
//
// Contexts that come from outside the replica, a client's token or a peer's
// operation, are untrusted: Context.Check refuses one over the limits or
// naming node 0, and Normalize gives the one form every replica computes
// with (sorted, deduplicated, folded into the vector), since Covers
// binary-searches the cloud. Tokens are issued normalized, and DecodeToken
// refuses one that is not; Context.Beyond lets a replica refuse a context
// that names writes of its own origin it has not made.
//
// The store applies each origin's operations in counter order, which keeps
// every Context it builds a plain VersionVector; the Cloud of out-of-order dots
// exists so that the type is exact under any delivery order, which the
// property tests exercise.
package crdt
