package store

import (
	"context"
	"fmt"
	"time"

	"github.com/yzma/yzma/node/crdt"
)

// metaLeft holds the LeftMark while the node stays out of its cluster.
var metaLeft = []byte("left")

// LeftMark is the durable record that this data file's node handed its
// data off and left its cluster (package cluster decides what that means:
// the node stays out of gossip and takes no writes until it is told to
// rejoin, even across restarts).
type LeftMark struct {
	// VersionVector is what the node held when it stopped taking writes.
	VersionVector crdt.VersionVector `cbor:"1,keyasint"`
	// Peers maps every member that proved it holds all of it to the
	// version vector it reported.
	Peers map[string]crdt.VersionVector `cbor:"2,keyasint,omitempty"`
	// At is when the mark was recorded (whole seconds).
	At time.Time `cbor:"3,keyasint,omitempty"`
}

// MarkLeft records m in the data file. It returns once the record is
// durable (an fsynced commit), so a crash right after cannot lose it.
func (s *Store) MarkLeft(ctx context.Context, m LeftMark) error {
	if m.VersionVector == nil {
		m.VersionVector = crdt.VersionVector{}
	}
	err := s.do(ctx, 0, false, func(b *batch) error {
		return putCBOR(b.tx.Bucket(bucketMeta), metaLeft, m)
	})
	if err != nil {
		return fmt.Errorf("record the leave: %w", err)
	}
	s.mu.Lock()
	s.left = &m
	s.mu.Unlock()
	return nil
}

// ClearLeft removes the mark MarkLeft recorded, durably; without one it
// changes nothing.
func (s *Store) ClearLeft(ctx context.Context) error {
	err := s.do(ctx, 0, false, func(b *batch) error {
		return b.tx.Bucket(bucketMeta).Delete(metaLeft)
	})
	if err != nil {
		return fmt.Errorf("clear the leave record: %w", err)
	}
	s.mu.Lock()
	s.left = nil
	s.mu.Unlock()
	return nil
}

// Left returns the mark MarkLeft recorded and true, or false when the node
// has not left (or has rejoined since). Do not modify the mark's maps.
func (s *Store) Left() (LeftMark, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.left == nil {
		return LeftMark{}, false
	}
	return *s.left, true
}
