package store

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/hlc"
)

// MaxKeyLen is the longest key accepted, in bytes.
const MaxKeyLen = 4096

// Sentinel errors callers act on.
var (
	ErrNotFound   = errors.New("key not found")
	ErrEmptyKey   = errors.New("empty key")
	ErrKeyTooLong = fmt.Errorf("key longer than %d bytes", MaxKeyLen)
	ErrClosed     = errors.New("store closed")
	// ErrOverloaded: the write queue is full; nothing was written. Retry
	// later (the HTTP API answers 503 with Retry-After).
	ErrOverloaded = errors.New("too many writes queued")
	// ErrFutureContext: a causal context names writes of this replica's
	// origin that it has not made; nothing was written.
	ErrFutureContext = errors.New("causal context names writes this node has not made")
	// ErrOwnOrigin: a remote operation claims this process's origin, which
	// only this process mints.
	ErrOwnOrigin = errors.New("remote operation claims this node's own origin")
	// ErrGap: a remote operation skips counters of its origin; the missing
	// ones must be applied first.
	ErrGap = errors.New("operation out of order for its origin")
	// ErrPruned: the log no longer holds the operations asked for; the peer
	// needs a snapshot.
	ErrPruned = errors.New("operations already pruned from the log")
)

var (
	bucketKeys = []byte("keys")
	bucketLog  = []byte("log")
	bucketMeta = []byte("meta")

	metaNodeID   = []byte("node_id")
	metaOrigins  = []byte("origins") // every origin this file has minted under, oldest first
	metaVV       = []byte("vv")
	metaHLC      = []byte("hlc")
	metaKeys     = []byte("keys")
	metaFloor    = []byte("log_floor")
	metaLogBytes = []byte("log_bytes")
)

// Options tunes a Store. The zero value is usable.
type Options struct {
	Logger *slog.Logger
	// Registerer receives the store's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Wall is the wall clock for the hybrid logical clock; nil is time.Now.
	Wall func() time.Time
	// MaxBatch caps the requests committed in one transaction (default 512).
	MaxBatch int
	// MaxBatchBytes caps the bytes (keys and values) one transaction commits,
	// past its first request (default 16 MiB).
	MaxBatchBytes int64
	// MaxQueuedWrites and MaxQueuedBytes bound the writes waiting for a
	// commit (defaults 4096 and 256 MiB); past either, Put and Delete
	// answer ErrOverloaded at once.
	MaxQueuedWrites int
	MaxQueuedBytes  int64
	// FeedChanges bounds the changes the change feed keeps for watchers to
	// resume from (default 65,536; also at most 32 MiB of states).
	FeedChanges int
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 512
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 16 << 20
	}
	if o.MaxQueuedWrites <= 0 {
		o.MaxQueuedWrites = 4096
	}
	if o.MaxQueuedBytes <= 0 {
		o.MaxQueuedBytes = 256 << 20
	}
	if o.FeedChanges <= 0 {
		o.FeedChanges = 1 << 16
	}
}

// Store is one node's durable replica. It is safe for concurrent use.
type Store struct {
	db      *bolt.DB
	path    string
	id      crdt.NodeID // the file's identity, for operators
	origin  crdt.NodeID // this process's origin: the node part of every dot it mints
	origins map[crdt.NodeID]bool
	clock   *hlc.Clock
	log     *slog.Logger
	metrics *metrics
	opts    Options

	queue     queue
	committed chan struct{} // closed when the committer has exited
	recent    recent        // this process's last operations, for replication
	cache     *stateCache   // hot keys' states, for reads
	feed      feed          // the changes applied, for watchers
	expiry    expiryQueue   // when versions with a TTL expire

	remoteMu  sync.RWMutex // remote ops take it shared, a snapshot merge exclusively
	dbMu      sync.RWMutex // transactions take it shared, Compact's final step exclusively (it swaps db)
	compactMu sync.Mutex   // one Compact at a time
	backupMu  sync.Mutex   // one Backup at a time

	// compactHook, set by tests, runs once Compact has copied its first
	// chunk, with reads and writes free to go on.
	compactHook func()
	// fillHook, set by tests, runs between a read's transaction and its
	// filling the cache.
	fillHook func()

	dirtyMu sync.Mutex
	dirty   map[dirtyKey]struct{} // non-nil while Compact copies the file

	mu      sync.RWMutex
	vv      crdt.VersionVector // committed; replaced, never mutated
	nkeys   int64
	logSize int64     // bytes of the log's entries (keys and values)
	left    *LeftMark // nil: the node has not left its cluster
}

// Open opens (creating if needed) the data file at path. A new file gets a
// new random node ID. Every Open starts a new origin (see the package doc).
func Open(path string, opts Options) (*Store, error) {
	opts.setDefaults()
	db, err := bolt.Open(path, 0o600, boltOptions)
	if err != nil {
		return nil, fmt.Errorf("open data file %s: %w", path, err)
	}
	s := &Store{
		db: db, path: path, log: opts.Logger, opts: opts,
		queue:     queue{wake: make(chan struct{}, 1)},
		committed: make(chan struct{}),
		cache:     newStateCache(),
		feed:      feed{max: opts.FeedChanges},
	}
	var last hlc.Timestamp
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketKeys, bucketLog, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		m := tx.Bucket(bucketMeta)
		if raw := m.Get(metaNodeID); raw != nil {
			s.id = crdt.NodeID(binary.BigEndian.Uint64(raw))
		} else {
			s.id = newNodeID()
			if err := m.Put(metaNodeID, be64(uint64(s.id))); err != nil {
				return err
			}
		}
		s.vv = crdt.VersionVector{}
		if err := getCBOR(m, metaVV, &s.vv); err != nil {
			return err
		}
		if err := s.newOrigin(m); err != nil {
			return err
		}
		if raw := m.Get(metaHLC); raw != nil {
			last = hlc.Timestamp(binary.BigEndian.Uint64(raw))
		}
		if raw := m.Get(metaKeys); raw != nil {
			s.nkeys = int64(binary.BigEndian.Uint64(raw))
		}
		if m.Get(metaLeft) != nil {
			s.left = &LeftMark{}
			if err := getCBOR(m, metaLeft, s.left); err != nil {
				return err
			}
		}
		if err := s.loadExpiring(tx); err != nil {
			return err
		}
		if raw := m.Get(metaLogBytes); raw != nil {
			s.logSize = int64(binary.BigEndian.Uint64(raw))
		} else { // a file from before the log was measured
			s.logSize = 0
			if err := tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
				s.logSize += int64(len(k) + len(v))
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("initialise data file %s: %w", path, err)
	}
	s.clock = hlc.NewClock(opts.Wall, last)
	s.metrics = newMetrics(s, opts.Registerer)
	go s.commitLoop()
	s.log.Info("store opened", "path", path, "node_id", s.id.String(), "origin", s.origin.String(), "keys", s.nkeys)
	return s, nil
}

// newOrigin picks this process's origin: random, never one the file or its
// version vector has seen, and recorded in the file before any write uses
// it.
func (s *Store) newOrigin(m *bolt.Bucket) error {
	var list []crdt.NodeID
	if err := getCBOR(m, metaOrigins, &list); err != nil {
		return err
	}
	if len(list) == 0 { // files from before origins: the node ID minted
		list = append(list, s.id)
	}
	s.origins = map[crdt.NodeID]bool{}
	for _, o := range list {
		s.origins[o] = true
	}
	for {
		s.origin = newNodeID()
		if !s.origins[s.origin] && s.vv[s.origin] == 0 {
			break
		}
	}
	s.origins[s.origin] = true
	return putCBOR(m, metaOrigins, append(list, s.origin))
}

// boltOptions: the map freelist and no freelist sync suit a store that
// appends and deletes log entries all the time; a large initial mmap keeps
// writers from waiting for readers to remap while the file grows (a remap
// needs every read transaction to end).
var boltOptions = &bolt.Options{
	Timeout:         2 * time.Second,
	FreelistType:    bolt.FreelistMapType,
	NoFreelistSync:  true,
	InitialMmapSize: 1 << 30,
}

func (s *Store) view(fn func(*bolt.Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.View(fn)
}

func (s *Store) update(fn func(*bolt.Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.Update(fn)
}

func newNodeID() crdt.NodeID {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic(fmt.Sprintf("crypto/rand: %v", err))
		}
		if id := binary.BigEndian.Uint64(b[:]); id != 0 {
			return crdt.NodeID(id)
		}
	}
}

// Close waits for queued writes to commit and closes the file.
func (s *Store) Close() error {
	s.queue.mu.Lock()
	if s.queue.closed {
		s.queue.mu.Unlock()
		return nil
	}
	s.queue.closed = true
	s.queue.mu.Unlock()
	select {
	case s.queue.wake <- struct{}{}:
	default:
	}
	<-s.committed
	s.metrics.unregister()
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close data file: %w", err)
	}
	return nil
}

// NodeID is the data file's persisted identity.
func (s *Store) NodeID() crdt.NodeID { return s.id }

// Origin is the node part of every dot this process mints: new at every
// Open, so that a data file restored from an older copy never mints a dot
// another replica already holds.
func (s *Store) Origin() crdt.NodeID { return s.origin }

// IsOwn reports whether origin is one this data file has minted under (in
// this process or an earlier one).
func (s *Store) IsOwn(origin crdt.NodeID) bool { return s.origins[origin] }

// Path is the data file's path.
func (s *Store) Path() string { return s.path }

// VersionVector returns what this replica has applied. Do not modify it.
func (s *Store) VersionVector() crdt.VersionVector {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.vv
}

// Item is a key as read: its live versions (siblings when more than one) and
// the causal context of this read. Its versions may be shared with other
// readers (the read cache): do not modify them.
type Item struct {
	Key      []byte
	Versions []crdt.Version
	Context  crdt.Context
}

// Shown is the version readers see.
func (it *Item) Shown() crdt.Version {
	st := crdt.KeyState{Versions: it.Versions}
	v, _ := st.Shown()
	return v
}

// Get reads a key. A key without live versions is ErrNotFound.
func (s *Store) Get(key []byte) (Item, error) {
	if err := checkKey(key); err != nil {
		return Item{}, err
	}
	applied := crdt.ContextOf(s.VersionVector())
	st, gen := s.cache.get(key)
	if st == nil {
		st = &crdt.KeyState{}
		err := s.view(func(tx *bolt.Tx) error {
			return getCBOR(tx.Bucket(bucketKeys), key, st)
		})
		if err != nil {
			return Item{}, fmt.Errorf("read key: %w", err)
		}
		if s.fillHook != nil {
			s.fillHook()
		}
		if len(st.Versions) > 0 {
			s.cache.fill(key, st, gen)
		}
	}
	// Expired versions are hidden (expire.go), but the context still names
	// them, so a write after this read supersedes them too.
	live := st.Versions
	if st.Expiring() { // reading the clock takes its lock: only when it matters
		live = st.LiveAt(s.clock.Peek())
	}
	if len(live) == 0 {
		if len(st.Versions) == 0 {
			return Item{Key: key}, ErrNotFound
		}
		return Item{Key: key, Context: st.Observe(applied)}, ErrNotFound
	}
	return Item{Key: key, Versions: live, Context: st.Observe(applied)}, nil
}

// Entry is one key in a listing.
type Entry struct {
	Key      []byte
	Siblings int
	Type     string // of the shown version
	Size     int    // of the shown version
}

// List returns up to limit live keys that start with prefix and sort after
// after, in byte order, and the key to pass as after for the next page (nil
// when there is none).
func (s *Store) List(prefix, after []byte, limit int) ([]Entry, []byte, error) {
	if limit <= 0 {
		return nil, nil, nil
	}
	var out []Entry
	var next []byte
	err := s.scanLive(prefix, after, func(k []byte, st *crdt.KeyState, live []crdt.Version) bool {
		if len(out) == limit {
			next = bytes.Clone(out[len(out)-1].Key)
			return false
		}
		shown, _ := (&crdt.KeyState{Versions: live}).Shown()
		out = append(out, Entry{Key: bytes.Clone(k), Siblings: len(live), Type: shown.Type, Size: len(shown.Value)})
		return true
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list keys: %w", err)
	}
	return out, next, nil
}

// scanLive calls fn, in key order, for each key under prefix after after
// that has a version live now (expired ones are left out of live), until
// fn returns false. k is valid only during the call.
func (s *Store) scanLive(prefix, after []byte, fn func(k []byte, st *crdt.KeyState, live []crdt.Version) bool) error {
	now := s.clock.Peek()
	return s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketKeys).Cursor()
		start := prefix
		if len(after) > 0 && bytes.Compare(after, prefix) >= 0 {
			start = append(bytes.Clone(after), 0)
		}
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			st := &crdt.KeyState{}
			if err := unmarshal(v, st); err != nil {
				return fmt.Errorf("decode key %q: %w", k, err)
			}
			if live := st.LiveAt(now); len(live) > 0 && !fn(k, st, live) {
				return nil
			}
		}
		return nil
	})
}

// Stats describes the store's size.
type Stats struct {
	Keys      int64 // live keys
	FileBytes int64
	FreeBytes int64 // pages free for reuse inside the file
	LogOps    int   // operations held in the log
}

// Stats reads the store's size.
func (s *Store) Stats() (Stats, error) {
	var st Stats
	err := s.view(func(tx *bolt.Tx) error {
		st.FileBytes = tx.Size()
		st.FreeBytes = int64(s.db.Stats().FreePageN+s.db.Stats().PendingPageN) * int64(tx.DB().Info().PageSize)
		st.LogOps = tx.Bucket(bucketLog).Stats().KeyN
		return nil
	})
	s.mu.RLock()
	st.Keys = s.nkeys
	s.mu.RUnlock()
	return st, err
}

func checkKey(key []byte) error {
	switch {
	case len(key) == 0:
		return ErrEmptyKey
	case len(key) > MaxKeyLen:
		return ErrKeyTooLong
	}
	return nil
}

func be64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func sizeOf(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// Digest hashes every live version (key, dot, timestamp, type, value): two
// replicas holding the same data have the same digest.
func (s *Store) Digest() (string, error) {
	h := sha256.New()
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKeys).ForEach(func(k, v []byte) error {
			var st crdt.KeyState
			if err := unmarshal(v, &st); err != nil {
				return fmt.Errorf("decode key %q: %w", k, err)
			}
			for _, ver := range st.Versions {
				fmt.Fprintf(h, "%q %v %d %q %d:", k, ver.Dot, ver.HLC, ver.Type, len(ver.Value))
				h.Write(ver.Value)
			}
			return nil
		})
	})
	return hex.EncodeToString(h.Sum(nil)), err
}
