// Package store keeps one Yzma node's data in a single bbolt file.
//
// Buckets:
//   - "keys": key bytes → CBOR crdt.KeyState (live versions with their values,
//     plus observed-but-unapplied context; a key with neither is deleted).
//   - "log": origin node ID (8 bytes, big endian) ‖ counter (8 bytes) → CBOR
//     logEntry, the per-origin operation log peers pull from. Entries carry no
//     value: the value lives once, in the key's version, and a write whose
//     version was since replaced is shipped as superseded.
//   - "meta": this file's random ID, the origins it has minted under, its
//     version vector (what it has applied, contiguous per origin), the last
//     hybrid-clock reading, the live key count, the log's size, per
//     origin, the counter up to which the log was pruned and, once the node
//     has handed its data off and left its cluster, the LeftMark (MarkLeft,
//     ClearLeft: see package cluster).
//
// Origins. A dot must never be minted twice with different contents, or
// replicas that hold the first silently drop the second. A counter kept in
// the file cannot promise that: a file restored from an older copy (a
// volume snapshot, a backup, a copied claim) carries a lower counter under
// the same ID, and if every other replica is down at that moment nothing
// can be compared to notice. So each Open mints under a fresh random
// origin, recorded in the file before its first write: a restored copy
// starts a new origin too and can never collide, whoever is reachable, and a
// multi-master node keeps taking writes while cut off. Its old origins stay
// its own (IsOwn): it pushes what it holds of them, and pulls back from peers
// what its older copy lacks. The price is one version-vector entry (about 12
// bytes) per process start that wrote something. Entries are not retired: a
// node restarted every day for a year adds about 4 KiB to each vector it
// exchanges, which the design accepts for now; retiring an origin once every
// member covers its final counter is the known way to reclaim them (see the
// design notes). The alternatives were weaker: asking peers at start fails
// exactly when they are all down, and a counter file beside the data is
// restored with it.
//
// Writes are group-committed: concurrent callers queue, one goroutine commits
// whatever has queued in one fsynced transaction, and each caller is answered
// only after that commit. A caller alone does not wait for a timer. The queue
// is bounded by count and bytes (Options.MaxQueuedWrites, MaxQueuedBytes):
// past either, Put and Delete answer ErrOverloaded at once rather than wait,
// and nothing a caller holds is needed by the committer, so reads and the
// published version vector stay available under any write load. A commit
// takes at most MaxBatch requests and MaxBatchBytes. Replication's own
// requests are not shed (there are few of them and the cluster needs them
// to converge), but count against the bounds.
//
// Memory in front of the file, for the two hottest reads: replication reads
// this process's newest operations from a bounded window filled at commit
// (recent.go), and Get reads hot keys' decoded states from a bounded cache
// that every commit updates before its writers are answered (cache.go,
// which explains why a read never sees a state older than one
// acknowledged before it began). Both are rebuilt from the file on demand.
//
// Versions may expire (a write with a TTL): expire.go explains how they are
// hidden, announced on the change feed (feed.go, what watchers read) and
// removed once stable.
//
// Input from outside is checked before it is applied: a client's context
// may not name this process's origin beyond what it has minted
// (ErrFutureContext), a peer's operation may not claim this process's
// origin (ErrOwnOrigin), and contexts are normalized (crdt.Context.Normalize)
// so every replica reads them alike. Snapshot streams are decoded with
// explicit limits (package wire) and refused when their keys are out of
// order or their states malformed (ErrBadSnapshot).
//
// No long stalls. WriteSnapshot reads the keys in short transactions of
// bounded size, releasing each before writing to the (possibly slow) peer;
// the header's version vector is read first, so every key state in the
// stream reflects at least what the header claims, which is what a merge
// needs. Compact copies the file online (see compact.go): requests wait only
// for its last step, which copies what changed meanwhile and swaps the files.
//
// Backups (backup.go) are a snapshot stream read in one transaction (the
// state and the version vector of one instant), spooled to an unlinked
// file so that the transaction ends before a slow client fetches it, and
// ended by the SHA-256 of what precedes. Restore verifies the whole
// backup before it merges anything, and only into an empty store: the
// versions keep their dots, while the store mints under its own origin,
// new at every Open, so a restored node never reuses a dot of another
// replica; on a cluster the restore is a merge like any snapshot's.
//
// Pruning. Removed versions are dropped as soon as an operation removes them,
// and a deleted key's record disappears as soon as this node's own version
// vector covers what its delete observed, so neither accumulates. The log is
// what needs cluster-wide knowledge: Prune(stable) drops the entries at or
// below stable (which the cluster computes: see package cluster), and
// records how far it pruned so that a peer asking for older operations is
// told to take a snapshot instead. It drops at most pruneBatch entries per
// transaction, so a large prune is many short commits between writes. Compact rewrites the file to return the
// freed pages to the file system.
package store
