// Package httpapi serves a *node.Node over HTTP.
//
// Every answer except a raw read, a watch and /metrics is a JSON envelope
// (package api), the original product's: {"Status":"ok","Error":"","Data":…}
// or {"Status":"error","Error":"…"}.
//
//	GET    /keys/{key}             Data: the value, base64; its type in X-Yzma-Content-Type; 404 when absent
//	GET    /keys/{key}?meta=1      Data: {"Data":"<base64>","Type":"<content type>"}
//	GET    /keys/{key}?raw=1       the value's bytes, with its stored Content-Type
//	GET    /keys/{key}?siblings=1  as meta, and "Siblings": every live version
//	GET    /watch?prefix=&since=   Server-Sent Events: the changes applied under prefix (watch.go)
//	PUT    /keys/{key}             store the body (POST does the same)
//	DELETE /keys/{key}             404 when there is nothing to delete
//	GET    /keys?prefix=&after=&limit=   list keys in byte order (limit 1-1000, default 100)
//	GET    /healthz                200 while the process serves
//	GET    /readyz                 200 when the node is ready, else 503
//	GET    /metrics                Prometheus metrics (when a Gatherer is given)
//	POST   /cluster/join           {"Peers":["host:port",…]}: join those gossip addresses
//	POST   /cluster/join           no body, {} or no Peers: rejoin after a leave (no-op on a member)
//	POST   /cluster/leave          hand the data off and leave; again: the same result, re-announced
//	GET    /cluster/digest         {"Digest":"<hex>","Keys":n}: a hash of the whole key state
//	GET    /backup                 a point-in-time backup (not an envelope; backup.go)
//	POST   /restore                body: a backup; merged into this node if it is empty (409 otherwise)
//
// Keys are arbitrary bytes (1 to store.MaxKeyLen), percent-encoded in the
// path. Everything after "/keys/" is the key, taken from the escaped path and
// unescaped once, so "/keys/a/b" and "/keys/a%2Fb" are both the key "a/b",
// and dot segments are never cleaned away ("/keys/a/../b" is the key
// "a/../b"; curl needs --path-as-is to send it unchanged). A path with a
// malformed escape such as "%zz" never reaches the API: Go's HTTP server
// answers it with a plain-text 400 of its own.
//
// In a listing, a key that is not valid UTF-8 cannot travel exactly as a JSON
// string, so its entry also carries "KeyBase64" with the exact bytes, and
// "Next" likewise comes with "NextBase64"; percent-encode those bytes to pass
// them back as "after" (see package api).
//
// Causal contexts. Every read answers the header X-Yzma-Context with an
// opaque token naming the versions it saw (also on 404: a token for "nothing
// seen"). A write or delete that sends the token back supersedes exactly
// those versions; anything written concurrently elsewhere survives as a
// sibling. Without the header, a write supersedes everything the node holds
// for the key. A write answers 200 only once it is durable, with a token
// naming the version it created. A token is answered 400 when no node could
// have issued it: over the limits, not in the normal form nodes write, or
// naming writes of this node's origin it has not made (which would make
// every later write of the key invisible).
//
// Load shedding. At most 512 writes are served at once (gate.go), so that
// under thousands of writers a probe or a read is not scheduled behind all
// of them; the others wait, parked, up to Options.MaxPendingWrites. The
// writes served queue for a group commit. Past either bound (pending
// writes, or the store's queue) a write is answered 503 at once, with
// Retry-After, and so is a write while the node catches up after joining.
// Reads, /healthz, /readyz and /metrics never wait for writes.
//
// Leaving. POST /cluster/leave answers 200 with what was handed off once
// every other member proved it holds it and the node recorded in its data
// file that it left (503 when the hand-off could not be proven in time,
// 409 with no other member; the node then stays a member). From then on,
// also across restarts, the node stays out of the cluster: writes are
// answered 503, /readyz 503 ("node has left the cluster"), reads are
// served, GET /cluster/members lists it as left, and a join with peers is
// answered 409. A repeated leave answers 200 with the same result and
// announces the leave to the members again. POST /cluster/join without
// peers (no body, {} or "Peers":[]) makes it rejoin through its configured
// seeds: it answers the members once the node caught up and is ready, and
// on a node that has not left it changes nothing.
//
// Backups. GET /backup answers application/vnd.yzma.backup with
// Content-Length, X-Yzma-Backup-Sha256 and X-Yzma-Backup-Keys: the node
// first pulls what its live members hold (503 when one fails to answer),
// then reads its data in one transaction into a spooled file, so the
// backup is one instant and a slow download holds no transaction. One at
// a time per node (503 with Retry-After). POST /restore takes that body,
// checks its checksum before merging anything (400 when damaged, 413 past
// Options.MaxRestoreBytes), and only into a node holding no data (409).
// The upload may take as long as it needs while it keeps coming (a stall
// of 30 s ends it): ReadTimeout does not bound it.
//
// Request bodies are capped (Options.MaxBodyBytes, 413 beyond).
//
// Who may call what (Options.Auth, credentials from package creds): the
// probes /healthz and /readyz are open. With client tokens, every other
// route needs "Authorization: Bearer <token>" (401 otherwise); a read-only
// token may only GET and HEAD (403 otherwise). /internal/*, the peers'
// data channel, takes peers only: a client certificate the server's CA
// verified, or a peer secret; a client token there is a 403, since it
// would let any client forge operations or download the whole database. A
// verified client certificate is also taken on the client routes, as an
// administrator's. With no credential configured at all, everything is
// open: the zero-config loopback default.
package httpapi
