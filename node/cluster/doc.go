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
//     reports ready.
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
// hold it, then leaves gossip. Pruning drops the log entries every current
// member has applied (the minimum of their version vectors); members that
// left or died are not counted.
package cluster
