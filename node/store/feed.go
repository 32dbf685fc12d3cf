package store

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/hlc"
)

// The change feed (Options.FeedChanges): every change to a key's state this process applies (a
// local write or delete, a replicated operation, a key merged from a
// snapshot) gets the next number of this process's sequence, in the order
// of application, and is kept in a bounded in-memory window for watchers
// (package httpapi serves it as /watch). A watcher resumes from any number
// the window still holds; an older one, or one of an earlier process (the
// sequence restarts with each Open, under a new origin, which names it),
// gets ErrCursorGone and must start again from the current state. A change
// keeps a reference to the key's state and the version vector after its
// commit, both immutable, so recording it costs no copy; what a watcher
// sees (shown value, siblings, context) is derived when it reads.
const feedMaxBytes = 32 << 20

// ErrCursorGone: the change feed no longer holds the changes after the
// position asked for (or the position is another process's); the watcher
// must start again from the current state.
var ErrCursorGone = errors.New("change feed no longer reaches back to the cursor")

// Change is one change to a key as this node applied it.
type Change struct {
	Seq   uint64 // this process's application sequence, from 1; 0 in a state listing
	Key   []byte
	state *crdt.KeyState
	vv    crdt.VersionVector
	at    hlc.Timestamp // when it was applied: versions expired by then are not live
}

// Live is the key's live versions after the change (those expired by then
// left out); the methods below derive from it.
func (c *Change) Live() []crdt.Version { return c.state.LiveAt(c.at) }

// Deleted reports whether the key has no live version after the change
// (deleted, or its last live version expired).
func (c *Change) Deleted() bool { return len(c.Live()) == 0 }

// Shown is the version readers see after the change (zero when deleted).
func (c *Change) Shown() crdt.Version {
	st := crdt.KeyState{Versions: c.Live()}
	v, _ := st.Shown()
	return v
}

// Siblings is the number of live versions after the change.
func (c *Change) Siblings() int { return len(c.Live()) }

// Context is the key's causal context after the change: what a read
// returned then, which a write may carry to supersede exactly it.
func (c *Change) Context() crdt.Context { return c.state.Observe(crdt.ContextOf(c.vv)) }

type feed struct {
	max     int // changes kept (Options.FeedChanges)
	mu      sync.Mutex
	first   uint64 // Seq of changes[0]
	changes []Change
	bytes   int
	last    uint64        // the last Seq given
	wake    chan struct{} // closed, and replaced, at each publish
}

// publish numbers and records the changes of a commit.
func (f *feed) publish(changes []Change, vv crdt.VersionVector, at hlc.Timestamp) {
	if len(changes) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.changes) == 0 {
		f.first = f.last + 1
	}
	for _, c := range changes {
		f.last++
		c.Seq, c.vv, c.at = f.last, vv, at
		f.changes = append(f.changes, c)
		f.bytes += stateBytes(string(c.Key), c.state)
	}
	drop := 0
	for len(f.changes)-drop > f.max || f.bytes > feedMaxBytes && len(f.changes)-drop > 1 {
		f.bytes -= stateBytes(string(f.changes[drop].Key), f.changes[drop].state)
		drop++
	}
	clear(f.changes[:drop]) // as in recent.add: reslice, let the dropped go
	f.changes = f.changes[drop:]
	f.first += uint64(drop)
	if f.wake != nil {
		close(f.wake)
		f.wake = nil
	}
}

// ChangesSince returns up to limit changes after position after (0: from
// the start of this process), and a channel closed once a later change is
// published (to wait on when there is none). ErrCursorGone means the feed
// no longer holds the change after after.
func (s *Store) ChangesSince(after uint64, limit int) ([]Change, <-chan struct{}, error) {
	f := &s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case after > f.last:
		return nil, nil, fmt.Errorf("%w: position %d is beyond this process's last change %d", ErrCursorGone, after, f.last)
	case after < f.last && (len(f.changes) == 0 || after+1 < f.first):
		return nil, nil, fmt.Errorf("%w: it holds changes %d to %d, asked after %d", ErrCursorGone, f.first, f.last, after)
	}
	if after == f.last {
		if f.wake == nil {
			f.wake = make(chan struct{})
		}
		return nil, f.wake, nil
	}
	from := f.changes[after+1-f.first:]
	return append([]Change(nil), from[:min(limit, len(from))]...), nil, nil
}

// FeedPosition is the position of the last change applied: watching from
// it sees every later change.
func (s *Store) FeedPosition() uint64 {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	return s.feed.last
}

// States returns up to limit live keys under prefix after after, in key
// order, as changes (Seq 0) holding their current state: where a watcher
// starts again after ErrCursorGone.
func (s *Store) States(prefix, after []byte, limit int) ([]Change, error) {
	if limit <= 0 {
		return nil, nil
	}
	vv, now := s.VersionVector(), s.clock.Peek()
	var out []Change
	err := s.scanLive(prefix, after, func(k []byte, st *crdt.KeyState, _ []crdt.Version) bool {
		out = append(out, Change{Key: bytes.Clone(k), state: st, vv: vv, at: now})
		return len(out) < limit
	})
	if err != nil {
		return nil, fmt.Errorf("read states: %w", err)
	}
	return out, nil
}
