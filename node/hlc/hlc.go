// Package hlc implements a hybrid logical clock.
//
// A Timestamp packs milliseconds of wall time into its upper 48 bits and a
// logical counter into the lower 16, so timestamps compare as plain integers,
// stay close to wall time, and never go backwards on one node even when the
// wall clock does. Observing a remote timestamp moves the clock past it, so a
// write made after seeing another write always carries a larger timestamp.
package hlc

import (
	"fmt"
	"sync"
	"time"
)

const logicalBits = 16

// Timestamp is a hybrid logical clock reading.
type Timestamp uint64

// FromTime returns the timestamp for wall time t with a zero logical part.
func FromTime(t time.Time) Timestamp {
	return Timestamp(uint64(t.UnixMilli()) << logicalBits)
}

// Time returns the wall-clock part of t.
func (t Timestamp) Time() time.Time {
	return time.UnixMilli(int64(t >> logicalBits)).UTC()
}

// Add returns t moved by d, to the millisecond, with t's logical part.
func (t Timestamp) Add(d time.Duration) Timestamp {
	return t + Timestamp(uint64(d.Milliseconds())<<logicalBits)
}

// Logical returns the logical counter of t.
func (t Timestamp) Logical() uint16 { return uint16(t) }

func (t Timestamp) String() string {
	return fmt.Sprintf("%s+%d", t.Time().Format(time.RFC3339Nano), t.Logical())
}

// Clock hands out strictly increasing timestamps. It is safe for concurrent use.
type Clock struct {
	mu   sync.Mutex
	last Timestamp
	wall func() time.Time
}

// NewClock returns a clock that never returns a timestamp at or below last
// (typically the value persisted before a restart). wall defaults to time.Now.
func NewClock(wall func() time.Time, last Timestamp) *Clock {
	if wall == nil {
		wall = time.Now
	}
	return &Clock{wall: wall, last: last}
}

// Now returns a timestamp greater than every one returned or observed before.
func (c *Clock) Now() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pt := FromTime(c.wall()); pt > c.last {
		c.last = pt
	} else {
		c.last++
	}
	return c.last
}

// Peek returns the clock's current reading without advancing it: the
// later of the wall clock and the last timestamp returned or observed.
func (c *Clock) Peek() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(FromTime(c.wall()), c.last)
}

// Observe moves the clock past a timestamp received from another node.
func (c *Clock) Observe(remote Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if remote > c.last {
		c.last = remote
	}
}

// Last returns the latest timestamp handed out or observed.
func (c *Clock) Last() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}
