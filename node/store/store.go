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

	metaNodeID = []byte("node_id")
	metaVV     = []byte("vv")
	metaHLC    = []byte("hlc")
	metaKeys   = []byte("keys")
	metaFloor  = []byte("log_floor")
)

// Options tunes a Store. The zero value is usable.
type Options struct {
	Logger *slog.Logger
	// Registerer receives the store's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Wall is the wall clock for the hybrid logical clock; nil is time.Now.
	Wall func() time.Time
	// MaxBatch caps the operations committed in one transaction (default 512).
	MaxBatch int
}

// Store is one node's durable replica. It is safe for concurrent use.
type Store struct {
	db       *bolt.DB
	path     string
	id       crdt.NodeID
	clock    *hlc.Clock
	log      *slog.Logger
	metrics  *metrics
	maxBatch int

	reqs      chan *request
	committed chan struct{} // closed when the committer has exited

	remoteMu sync.RWMutex // remote ops take it shared, a snapshot merge exclusively
	dbMu     sync.RWMutex // transactions take it shared, Compact exclusively (it swaps db)

	mu     sync.RWMutex
	closed bool
	vv     crdt.VersionVector // committed; replaced, never mutated
	nkeys  int64
}

// Open opens (creating if needed) the data file at path. A new file gets a
// new random node ID.
func Open(path string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	db, err := bolt.Open(path, 0o600, boltOptions)
	if err != nil {
		return nil, fmt.Errorf("open data file %s: %w", path, err)
	}
	s := &Store{
		db: db, path: path, log: opts.Logger, maxBatch: opts.MaxBatch,
		reqs:      make(chan *request, opts.MaxBatch),
		committed: make(chan struct{}),
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
		if raw := m.Get(metaHLC); raw != nil {
			last = hlc.Timestamp(binary.BigEndian.Uint64(raw))
		}
		if raw := m.Get(metaKeys); raw != nil {
			s.nkeys = int64(binary.BigEndian.Uint64(raw))
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
	s.log.Info("store opened", "path", path, "node_id", s.id.String(), "keys", s.nkeys)
	return s, nil
}

var boltOptions = &bolt.Options{
	Timeout:        2 * time.Second,
	FreelistType:   bolt.FreelistMapType,
	NoFreelistSync: true,
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
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()
	<-s.committed
	s.metrics.unregister()
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close data file: %w", err)
	}
	return nil
}

// NodeID is this replica's persisted identity.
func (s *Store) NodeID() crdt.NodeID { return s.id }

// Path is the data file's path.
func (s *Store) Path() string { return s.path }

// VersionVector returns what this replica has applied. Do not modify it.
func (s *Store) VersionVector() crdt.VersionVector {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.vv
}

// Item is a key as read: its live versions (siblings when more than one) and
// the causal context of this read.
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
	var st crdt.KeyState
	err := s.view(func(tx *bolt.Tx) error {
		return getCBOR(tx.Bucket(bucketKeys), key, &st)
	})
	if err != nil {
		return Item{}, fmt.Errorf("read key: %w", err)
	}
	if len(st.Versions) == 0 {
		return Item{Key: key}, ErrNotFound
	}
	return Item{Key: key, Versions: st.Versions, Context: st.Observe(applied)}, nil
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
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketKeys).Cursor()
		start := prefix
		if len(after) > 0 && bytes.Compare(after, prefix) >= 0 {
			start = append(bytes.Clone(after), 0)
		}
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var st crdt.KeyState
			if err := unmarshal(v, &st); err != nil {
				return fmt.Errorf("decode key %q: %w", k, err)
			}
			shown, ok := st.Shown()
			if !ok {
				continue
			}
			if len(out) == limit {
				next = bytes.Clone(out[len(out)-1].Key)
				return nil
			}
			out = append(out, Entry{Key: bytes.Clone(k), Siblings: len(st.Versions), Type: shown.Type, Size: len(shown.Value)})
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list keys: %w", err)
	}
	return out, next, nil
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
