// Package faultnet is a TEST-ONLY network fault layer for Yzma nodes: it
// lets a test cut the network between node processes on loopback without
// root, firewalls or network namespaces.
//
// A node runs with it only when the environment variable EnvFile
// (YZMA_TEST_FAULTS_FILE) names a rules file (cmd/node wires it then, and
// logs a loud warning); production nodes never load it. The rules file holds
// one blocked IP address per line; blank lines and everything after a '#'
// are ignored, and so are lines that are not an IP address. A missing file
// blocks nothing. Rules re-reads the file whenever its identity, size or
// modification time changes, checking at most every CheckInterval, so a test
// changes the network by rewriting the file (WriteRules does so atomically).
//
// Two things filter through a Rules:
//
//   - WrapTransport wraps a memberlist transport (gossip): packets to a
//     blocked IP are dropped silently (as a lossy network would), packets
//     from one are dropped on arrival, dials to one fail, incoming streams
//     from one are closed, and an open stream fails on its next read or
//     write once its peer is blocked. (Incoming streams are matched by
//     their source address, which on loopback is 127.0.0.1 unless the
//     dialer binds one: that is why cuts rely on outgoing filtering.)
//   - DialContext is a dialer for an http.Transport (the replication
//     channel): it refuses blocked IPs, and a pooled connection fails on its
//     next read or write once its peer is blocked, so a cut also breaks
//     keep-alive connections opened before it.
//
// Filtering outgoing traffic on both sides is enough for a symmetric cut:
// the fault-injection suite (test/faults) writes, for a partition A|B, the
// IPs of B into the rules of every node of A and the other way round. Host
// names are resolved before matching (Rules.BlockedAddr does not resolve);
// only IP addresses can be blocked.
package faultnet
