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
//     alone and ready, and catches up by anti-entropy once peers appear.
//
// Each member gossips its data file's ID and its process's origin (package
// store): a new origin under a known name means the member restarted,
// perhaps from an older copy of its data, so what it was known to hold is
// forgotten and learnt again from its version vector.
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
// reads); left, when it handed its data off before going; or dead.
//
// Leave refuses new writes, pushes every operation this node holds (from any
// origin) to every other live member until their version vectors prove they
// hold it, then leaves gossip.
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
