// Package creds holds a node's credentials and reloads them from their
// files while the node runs: client tokens with roles, peer secrets,
// gossip keys and the TLS certificate, key and CA bundle.
//
// Why files, reloaded: Kubernetes mounts Secrets as files and replaces them
// in place when the Secret changes, and cert-manager renews certificates
// the same way; a node that re-reads its files picks a rotation up without
// a restart. A File re-reads its path at most once per CheckInterval, when
// it is used, and only re-parses when the bytes changed; a file that turns
// unreadable or malformed keeps the last good value (and the error is
// reported by Err), so a half-written Secret never locks everyone out.
//
// Why lists: a rotation is a rolling change during which old and new
// values must both work. Client tokens are a set ("rw <token>" or
// "ro <token>" per line); peer secrets and gossip keys are ordered lists
// whose first entry is the one this node uses (sends, encrypts with) and
// all of which it accepts. Rotating is then: add the new value second,
// make it first, remove the old one, each step a rolling change.
//
// Why peers are separate from clients: a client token lets a user read or
// write keys; a peer credential lets its holder push operations into the
// replicas and download the whole database, so /internal/* accepts only
// peers: a peer secret, or a client certificate verified by the cluster CA
// (mutual TLS). Secrets are compared through SHA-256 digests in constant
// time, so a comparison leaks neither length nor prefix.
package creds
