package creds

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// CheckInterval is how often, at most, a File looks at its path again.
const CheckInterval = time.Second

// MaxFileBytes bounds a credential file; certificate bundles are the
// largest expected.
const MaxFileBytes = 1 << 20

// File is a value parsed from files that are re-read when used, at most
// once per CheckInterval, and re-parsed when their bytes change.
type File[T any] struct {
	paths []string
	parse func(contents [][]byte) (T, error)

	// cur is read without a lock on every use (a token check per
	// request); mu serializes reloads, which replace it.
	cur  atomic.Pointer[T]
	next atomic.Int64 // unix nanoseconds of the next look at the files
	mu   sync.Mutex
	raw  [][]byte
	err  error // of the last read or parse; nil when the value is current
	now  func() time.Time
}

// NewFile reads and parses paths once: an error there is the caller's to
// report (a node does not start with credentials it cannot read).
func NewFile[T any](parse func(contents [][]byte) (T, error), paths ...string) (*File[T], error) {
	f := &File[T]{paths: paths, parse: parse, now: time.Now}
	raw, err := readAll(paths)
	if err != nil {
		return nil, err
	}
	v, err := parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", paths[0], err)
	}
	f.raw = raw
	f.cur.Store(&v)
	f.next.Store(f.now().Add(CheckInterval).UnixNano())
	return f, nil
}

// Get returns the current value, re-reading the files when CheckInterval
// has passed since they were last read.
func (f *File[T]) Get() T {
	if f.now().UnixNano() >= f.next.Load() && f.mu.TryLock() { // one caller reloads; the others go on
		if f.now().UnixNano() >= f.next.Load() {
			f.reload()
		}
		f.mu.Unlock()
	}
	return *f.cur.Load()
}

// Reload re-reads the files now; it returns the error that kept the old
// value, if any.
func (f *File[T]) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reload()
	return f.err
}

// Err is the error of the last reload: non-nil while the files are
// unreadable or malformed and the previous value is still in use.
func (f *File[T]) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *File[T]) reload() {
	f.next.Store(f.now().Add(CheckInterval).UnixNano())
	raw, err := readAll(f.paths)
	if err != nil {
		f.err = err
		return
	}
	if equal(raw, f.raw) {
		f.err = nil
		return
	}
	v, err := f.parse(raw)
	if err != nil {
		f.err = fmt.Errorf("%s: %w", f.paths[0], err)
		return
	}
	f.raw, f.err = raw, nil
	f.cur.Store(&v)
}

func readAll(paths []string) ([][]byte, error) {
	out := make([][]byte, len(paths))
	for i, p := range paths {
		b, err := readFile(p)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func readFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read credentials %s: %w", path, err)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("credentials %s: larger than %d bytes", path, MaxFileBytes)
	}
	return b, nil
}

func equal(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// Static returns a File-like source of a fixed value, for credentials
// given inline rather than in files: it never looks at a file.
func Static[T any](v T) *File[T] {
	f := &File[T]{now: time.Now}
	f.cur.Store(&v)
	f.next.Store(math.MaxInt64)
	return f
}
