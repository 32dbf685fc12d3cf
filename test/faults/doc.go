// Package faults is Yzma's own fault-injection suite, in the style of
// Jepsen: real node processes, real clients, a seeded nemesis, and a checker
// that judges the history of what clients were told against the state the
// replicas converge to.
//
// # The run
//
// TestMain builds the node binary (cmd/node) once; TestFaults starts NODES
// node processes, node i on its own loopback address 127.0.0.(201+i) with
// the same API and gossip ports on every address, its own data directory,
// every other node as a gossip seed, and YZMA_TEST_FAULTS_FILE pointing at
// its own rules file (package node/faultnet: the node's gossip and
// replication traffic obey it; the test's clients are never filtered).
// TestPartitionCutsNodes checks that wiring end to end.
//
// Clients, each bound to one node, run until the end: writers (PUT of a
// unique value "w<client>-<seq>", to a fresh key or to one of a few shared
// keys), deleters (plain DELETE of a shared key), read-then-write and
// read-then-delete clients that send the X-Yzma-Context token of a
// ?siblings=1 read (recording every value the read saw), and writers that
// hammer a small hot key set from every node at once. Every operation is
// recorded with its key, value, node, start and end, and its outcome: ok
// (2xx), failed (definitely not applied: a 4xx, a 503, a refused
// connection) or unknown (a timeout, a broken connection, any other 5xx).
//
// Two nemesis loops, seeded from SEED, run meanwhile. The process nemesis,
// one fault at a time: pause a node (SIGSTOP, SIGCONT a while later), kill
// one (SIGKILL, restart after a while), or restore one: kill it, replace its
// data file with a copy taken earlier in the run (copies are taken while a
// node is paused or down, so they are consistent), and restart it. The
// network nemesis splits the nodes into two random sides and writes each
// side's rules file with the other side's addresses, holds the partition,
// and clears it. Faults are timed by sleeps; everything the test waits for
// is polled.
//
// After DURATION everything is healed (paused nodes resumed, down nodes
// restarted, rules cleared), the clients stop, and every node's
// /cluster/digest is polled until all are equal (at most 2 minutes): the
// time from the heal to that moment is the time to converge. Then every key
// (from the history and every node's listing) is read from every node with
// ?siblings=1 and the checker (Check) runs.
//
// # The checker
//
// Check is pure and works on values: every write has a value no other write
// has, so a value names its write. It counts
//
//   - lost: an acknowledged write whose value is absent from the final state
//     although no other operation on the same key could have superseded it:
//     none acknowledged that ended after the write started, and none with an
//     unknown outcome at all (an unknown operation may still be applied long
//     after its client gave up, for instance by a node resumed from a pause,
//     so it may supersede anything);
//   - resurrected: a value present in the final state that an acknowledged
//     operation provably observed and removed: a token operation whose read
//     saw it, or a plain (tokenless) write or delete on the node where the
//     value's write had been acknowledged, started after that
//     acknowledgement, unless that node's data file was restored in between;
//   - divergent: the number of nodes whose final digest or state differs
//     from the largest group of identical nodes;
//   - unexpected: a value present that no write with an ok or unknown
//     outcome wrote (a refused write that took effect after all).
//
// A restore rolls a node back: what it acknowledged after the copy was
// taken and had not yet replicated is gone with it, which no store that
// acknowledges a write once it is durable on one node can prevent (a node
// cut off by a partition keeps taking writes it cannot replicate). So an
// acknowledged operation on a node whose file was later restored from a
// copy older than the operation does not count as lost or as having
// removed a value; such cases are reported apart (LostToRestore,
// ResurrectedByRestore). A write some read on another node returned had
// replicated, and gets no such excuse. Writes issued after a restore are
// judged like any other: a restored node that reused the identities of its
// earlier writes would lose them, and its replica would diverge.
//
// A run fails when lost, resurrected, divergent or unexpected is not zero,
// when the digests do not converge, or when a node exits on its own.
//
// # Running it
//
// The environment chooses the run: SEED (default 1), SEEDS (consecutive
// seeds from SEED, default 1), DURATION (default 8s), NODES (default 3). The
// defaults keep the run inside `go test ./...` (`make test`) short; `-short`
// skips it. `make test-faults SEED=1 SEEDS=20 DURATION=30s NODES=5` runs
// longer ones. Each run logs one report line; with FAULTS_REPORT=<file> it
// also appends the report as a JSON line to that file. FAULTS_KEEP=1 keeps
// the nodes' data and logs (the path is logged).
package faults
