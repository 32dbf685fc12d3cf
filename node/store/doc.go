// Package store keeps one Yzma node's data in a single bbolt file.
//
// Buckets:
//   - "keys": key bytes → CBOR crdt.KeyState (live versions with their values,
//     plus observed-but-unapplied context; a key with neither is deleted).
//   - "log": origin node ID (8 bytes, big endian) ‖ counter (8 bytes) → CBOR
//     logEntry, the per-origin operation log peers pull from. Entries carry no
//     value: the value lives once, in the key's version, and a write whose
//     version was since replaced is shipped as superseded.
//   - "meta": this node's random ID, its version vector (what it has applied,
//     contiguous per origin), the last hybrid-clock reading, the live key
//     count and, per origin, the counter up to which the log was pruned.
//
// Writes are group-committed: concurrent callers queue, one goroutine commits
// whatever has queued in one fsynced transaction, and each caller is answered
// only after that commit. A caller alone does not wait for a timer.
//
// Pruning. Removed versions are dropped as soon as an operation removes them,
// and a deleted key's record disappears as soon as this node's own version
// vector covers what its delete observed, so neither accumulates. The log is
// what needs cluster-wide knowledge: Prune(stable) drops the entries every
// current member has applied (stable is the minimum of their version
// vectors), and records how far it pruned so that a peer asking for older
// operations is told to take a snapshot instead. Compact rewrites the file to
// return the freed pages to the file system.
package store
