// Package api holds the wire types of Yzma's HTTP API, shared by the server
// (package httpapi) and the Go client (package client). It has no
// dependencies beyond the standard library.
//
// Every JSON answer is an Envelope. []byte fields travel as standard base64,
// as encoding/json writes them. Keys in a listing are JSON strings; a key
// that is not valid UTF-8 cannot survive that (invalid bytes become U+FFFD),
// so such a key also carries its exact bytes in KeyBase64, and likewise Next
// in NextBase64. To pass such a key back (as "after" or in a path),
// percent-encode its bytes.
package api

import "time"

// Limits of the API.
const (
	DefaultMaxBodyBytes = 16 << 20 // request body cap unless configured otherwise
	DefaultListLimit    = 100      // keys per listing page when no limit is given
	MaxListLimit        = 1000     // largest limit a listing accepts
)

// ContextHeader carries a causal-context token: answered on every read of a
// key and on every write, and sent with a write or delete to supersede
// exactly what the token names.
const ContextHeader = "X-Yzma-Context"

// TokenHeader carries a client token where the Authorization header cannot:
// through the Kubernetes API server's pod proxy, which takes Authorization
// for itself. It is read only when Authorization is absent.
const TokenHeader = "X-Yzma-Token"

// PeerHeader names, on a peer's request to /internal/*, the member
// sending it, so that a refusal or a rejected batch is logged with the
// peer's name. It is a claim, not a credential.
const PeerHeader = "X-Yzma-Peer"

// TypeHeader carries, on a read of a key, the content type its shown value
// was written with (absent when none was given): the envelope's Data is
// the value itself, as the original product answered.
const TypeHeader = "X-Yzma-Content-Type"

// TTLHeader gives a write a time to live, like ?ttl=: a Go duration (30s,
// 1h30m) or whole seconds, up to MaxTTL. The version is not shown from its
// write's time plus the TTL on, on any replica (by each one's hybrid
// clock, so replicas agree within their clocks' skew); a later write
// without a TTL clears it.
const TTLHeader = "X-Yzma-TTL"

// MaxTTL is the longest time to live a write may ask for.
const MaxTTL = 10 * 365 * 24 * time.Hour

// Envelope status values.
const (
	StatusOK    = "ok"
	StatusError = "error"
)

// Envelope wraps every JSON answer, in the original product's shape:
// {"Status":"ok","Error":"","Data":…}. Error is always present, empty
// unless Status is "error"; Data is omitted when there is none. The Data
// of GET /keys/{key} is the shown value as a base64 string, as the
// original answered; ?meta=1 or ?siblings=1 make it a Value.
type Envelope struct {
	Status string
	Error  string
	Data   any `json:",omitempty"`
}

// Value is the Data of GET /keys/{key}?meta=1: the value readers see and
// its content type; with ?siblings=1, also every live version.
type Value struct {
	Data     []byte
	Type     string
	Expires  *time.Time `json:",omitempty"` // when it stops being shown; none: never
	Siblings []Sibling  `json:",omitempty"`
}

// Sibling is one live version of a key.
type Sibling struct {
	Data    []byte
	Type    string
	Expires *time.Time `json:",omitempty"`
	Node    string     // the write's origin: the writing node process's ID (new at each start), 16 hex digits
	Counter uint64     // that node's write counter
	Time    time.Time  // wall-clock part of the write's hybrid timestamp
}

// WatchEvent is the data of an event of GET /watch (Server-Sent Events):
// "put" and "delete" for a change this node applied, "state" for a key's
// current state after a "reset", whose data is a WatchReset.
type WatchEvent struct {
	Key       string
	KeyBase64 []byte `json:",omitempty"` // the exact bytes, when Key is not UTF-8
	Value     []byte `json:",omitempty"` // the shown value after the change; none after a delete
	Type      string `json:",omitempty"`
	Siblings  int    // live versions after the change
	Context   string // the key's causal context after the change, as a read's X-Yzma-Context
}

// WatchReset is the data of a "reset" event: the cursor asked for is older
// than this node's change log (or another process's), or the watcher fell
// behind it. "state" events with every live key under the prefix follow,
// then a "synced" event whose id is the cursor to resume from.
type WatchReset struct {
	Reason string
}

// KeyList is the Data of GET /keys.
type KeyList struct {
	Keys       []KeyEntry
	Next       string `json:",omitempty"` // pass as "after" for the next page
	NextBase64 []byte `json:",omitempty"` // Next's exact bytes, when not UTF-8
}

// KeyEntry is one key of a listing.
type KeyEntry struct {
	Key       string
	KeyBase64 []byte `json:",omitempty"` // the exact bytes, when Key is not UTF-8
	Siblings  int
	Type      string // of the shown version
	Size      int    // of the shown version, in bytes
}

// JoinRequest is the body of POST /cluster/join: gossip addresses
// (host:port) to join. Without peers (or without a body) the request asks a
// node that left its cluster to rejoin through its configured seeds.
type JoinRequest struct {
	Peers []string
}

// Member is one cluster member in GET /cluster/members.
type Member struct {
	Name   string
	Addr   string // gossip address
	API    string // HTTP API address
	State  string // alive, suspect, left or dead
	NodeID string
	// Lag is how many operations the answering node holds that this member
	// is not known to have; -1 when unknown.
	Lag int64
}

// Members is the Data of GET /cluster/members and POST /cluster/join.
type Members struct {
	Members []Member
}

// LeaveResult is the Data of a successful POST /cluster/leave: the version
// vector the node held when it stopped taking writes, and the members that
// proved they hold all of it, with their version vectors. A repeated leave
// answers the same, from the node's data file after a restart.
type LeaveResult struct {
	VersionVector map[string]uint64
	Peers         map[string]map[string]uint64
}

// Digest is the Data of GET /cluster/digest: a hash of the node's whole key
// state, equal on replicas that hold the same data, and its live keys.
type Digest struct {
	Digest string // hex
	Keys   int64
}

// Backups: GET /backup answers the backup itself (not an envelope) as
// BackupContentType, with these headers; POST /restore takes it as its
// body and answers a Restore.
const (
	BackupContentType = "application/vnd.yzma.backup"
	// BackupSHA256Header is the SHA-256 (hex) of the backup's bytes before
	// its last 32, which are that same checksum.
	BackupSHA256Header = "X-Yzma-Backup-Sha256"
	// BackupKeysHeader is the number of key states in the backup.
	BackupKeysHeader = "X-Yzma-Backup-Keys"
	// BackupNodeHeader is the ID of the node the backup was read from (as
	// GET /cluster/members lists it).
	BackupNodeHeader = "X-Yzma-Backup-Node"
	// DefaultMaxRestoreBytes is the largest backup a node takes unless
	// configured otherwise.
	DefaultMaxRestoreBytes = 1 << 40
)

// Restore is the Data of POST /restore: what the node merged.
type Restore struct {
	Keys   int    // key states
	Size   int64  // bytes of the backup
	SHA256 string // hex
	From   string // the ID of the node the backup was read from
	Time   time.Time
	Node   string // the restored node's ID
	Origin string // the restored node's origin: the node part of the dots it mints from now on
	// VersionVector is what the backup reflects, by origin.
	VersionVector map[string]uint64
}
