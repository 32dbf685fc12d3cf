// Package cluster makes a store one member of a Yzma cluster.
//
// Membership is SWIM gossip (hashicorp/memberlist): member names are unique
// and stable (the pod name in Kubernetes) and each member's metadata carries
// its persisted node ID and the address of its HTTP API. Gossip carries only
// membership; data travels over a reliable channel, the Transport (HTTP with
// CBOR bodies in production), in three ways:
//
//   - Push: for every live peer a sender streams this node's own operations
//     from the store's log, starting where the peer's version vector says it
//     is, in batches bounded by count and bytes. It reads from the durable
//     log, not from a queue, so nothing is ever dropped and memory stays
//     bounded however far behind a peer is.
//   - Anti-entropy: periodically a node asks a random peer for its version
//     vector and pulls, per origin, exactly the operations it lacks.
//   - Catch-up: a node that joins pulls from every member it found before it
//     reports ready, and takes no writes until then (a write supersedes what
//     the node holds of its key, which is not everything yet). A catch-up
//     that fails part-way is retried; a node that reaches no one starts
//     alone and ready, and catches up by anti-entropy once peers appear. A
//     blank node facing a peer with blankSnapshotOps operations or more
//     merges the peer's snapshot first: streaming key states in key order
//     is far cheaper on both sides than replaying every operation.
//
// Bodies of the data channel are CBOR, zstd-compressed when both ends
// speak it (compress.go): answers for callers that ask, pushes to members
// whose metadata says they take it, so members of different versions
// still talk.
//
// Each member gossips its data file's ID and its process's origin (package
// store): a new origin under a known name means the member restarted,
// perhaps from an older copy of its data, so what it was known to hold is
// forgotten and learnt again from its version vector.
//
// Security. Gossip is encrypted and authenticated with memberlist's
// keyring when Config.GossipKeys is set: the first key encrypts, every key
// decrypts, and the keyring follows the keys' source (syncKeyring), so a
// key rotates without a split (install, use, remove). A member without a
// key in common never joins, so nobody ever dials the API address it would
// advertise. The data channel (HTTPTransport) dials the address a peer
// gossips but, over TLS, verifies the certificate for the name it gossips
// (its pod's DNS name) against the cluster CA, and presents this node's
// certificate and the peer secret; peers accept nobody else on /internal/*
// (package httpapi). Calls leave from the advertised IP (HTTPTransport.Source)
// so that a receiver can tell who pushed.
//
// Nothing a peer sends is trusted (trust.go): a pushed or pulled batch and
// a snapshot's version vector may not claim counters of a live member's
// current origin beyond what that member itself reports (it is asked when
// the claim exceeds what it last said), a pulled batch no counter beyond the
// sender's own vector, and none may claim this process's origin (package
// store). Such claims would make this replica skip the real operations
// under those counters for good; they are refused (ErrForged) and logged
// with the peer's name. Origins of no live member cannot be checked.
//
// Seeds: Join contacts the configured gossip addresses and the A/AAAA
// records of SeedDNS (a headless Service in Kubernetes), host names resolved
// with Config.Resolver (the system's, or DNSResolver for a DNS server of the
// node's own). A node that finds no one but itself starts alone. Every
// ReseedInterval the seeds are resolved again and any that is not a member is
// joined, so pods that started together, each seeing only itself in DNS, end
// up one cluster.
//
// Members reports each member as this node sees it: alive; suspect, from
// when this node's gossip probe of it failed until it answers one again
// (memberlist reports its suspicion only in its log, which the cluster
// reads); left, once its metadata says it handed its data off (whether
// gossip still lists it or not); or dead.
//
// Leave refuses new writes, pushes every operation this node holds (from any
// origin) to every other live member until their version vectors prove they
// hold it, records that it left in its data file, then leaves gossip.
//
// Left is durable. Once the hand-off is proven the node writes a mark into
// its data file's meta bucket (store.MarkLeft: the handed-off version
// vector and the peers that proved they hold it) in an fsynced commit, and
// only then announces the leave: first its metadata's Left flag, then
// memberlist's leave. The order is the point: the operator deletes a pod
// (and perhaps its volume) once the node, or a peer, says it left, so a
// node that said so must never come back as a member taking writes that
// would be lost with it. A crash after the mark and before the
// announcement leaves a node its peers see as dead, which is safe (they
// hold everything it has); a crash before the mark leaves a member that
// never said it left, and the leave is simply retried. If the mark cannot
// be written, the leave fails and the node goes on as a member.
//
// A node that starts with the mark set (a pod restarted before it was
// deleted) stays out of the cluster: it starts no memberlist at all (only
// a repeated Leave starts one, to announce the leave again), so it neither
// joins its seeds nor answers gossip, and Join refuses with ErrLeft. It
// refuses writes (ErrLeaving), is not ready, still serves reads and its
// data channel, lists itself as left, and logs at start that it left and
// how to rejoin. Not running memberlist is simpler and safer than running
// one that must never speak: a memberlist that has left can never rejoin,
// and one that has not would be taken for alive by any member it reached.
//
// A repeated Leave answers the recorded result and announces the leave
// again, for members that missed the first announcement (they see the
// node as dead, which holds their log pruning back for DeadGrace, and
// memberlist never turns a dead member into a left one by itself). Since a
// memberlist that has left cannot speak again, this starts a new one on
// the same address, without replication, its metadata saying Left: it
// joins the seeds and the members the node knew, refutes what they last
// heard of it (which raises its incarnation above theirs), and leaves
// again. Members treat a member whose metadata says Left as left from its
// first message on, never as alive, so the repeat never makes the node a
// member to push to, count for pruning or take writes.
//
// Rejoin is the only way back: it clears the mark (durably, before
// anything else: a crash right after gives a node that joins at its next
// start, as asked), starts a new memberlist and the replication loops, and
// joins through the configured seeds like a fresh start: not ready and
// refusing writes until it caught up. It keeps the process's origin: a
// node refuses writes from the moment its hand-off starts, so every dot of
// that origin is held by the members it handed off to, and new writes
// continue its counter. On a member, Rejoin does nothing.
//
// Pruning drops the log entries every member that may still need them has
// applied: the minimum of the version vectors of the live members and of
// the members that died without leaving less than DeadGrace ago (default one
// hour). A pod restart or a rolling restart therefore moves only the
// operations each member missed; a member away longer, or once the log
// passes MaxLogBytes, takes a snapshot when it returns. Members that left
// are not counted. A node that has never seen another member prunes
// nothing (below MaxLogBytes): it cannot know what others lack.
//
// Peers' bodies are decoded with explicit limits (package wire) and checked
// (DecodeOps); an operation that claims this node's origin, or is malformed,
// is refused with 400.
package cluster
