package store

import (
	"sync"

	"github.com/yzma/yzma/node/crdt"
)

// Replication reads this process's newest operations once per peer, right
// after they commit. Reading them back from the file costs a transaction,
// a log-entry decode and a key-state decode per operation (for the value,
// which the log does not hold), so the operations committed last are also
// kept in memory, with their values, and OpsSince serves them from here.
// The window is bounded in count and bytes; a peer further behind reads the
// file as before. An operation served from here carries its value even if a
// later write has since replaced it (the file would ship it superseded,
// without the value): both are correct, the later operation removes it.
const (
	recentMaxOps   = 8192
	recentMaxBytes = 8 << 20
)

// recent is the window of this process's last committed operations:
// counters first .. first+len(ops)-1, contiguous.
type recent struct {
	mu    sync.RWMutex
	first uint64
	ops   []crdt.Op
	bytes int
}

// add appends operations just committed, in counter order, and trims the
// window to its bounds. A counter that does not follow the window's last
// restarts it.
func (r *recent) add(ops []crdt.Op) {
	if len(ops) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ops) == 0 || ops[0].Dot.Counter != r.first+uint64(len(r.ops)) {
		clear(r.ops)
		r.ops, r.bytes, r.first = r.ops[:0], 0, ops[0].Dot.Counter
	}
	for i := range ops {
		r.ops = append(r.ops, ops[i])
		r.bytes += opSize(&ops[i])
	}
	drop := 0
	for len(r.ops)-drop > recentMaxOps || (r.bytes > recentMaxBytes && len(r.ops)-drop > 1) {
		r.bytes -= opSize(&r.ops[drop])
		drop++
	}
	// Reslicing from the front, not copying down: append moves only the
	// kept operations when it next grows the array, so the window costs
	// amortized O(1) per operation (copying down cost the whole window per
	// commit).
	clear(r.ops[:drop]) // let the dropped values go
	r.ops = r.ops[drop:]
	r.first += uint64(drop)
}

// since returns what OpsSince would for operations above after, and false
// when the window does not start at or before after+1 or holds nothing
// above it.
func (r *recent) since(after uint64, limit, maxBytes int) ([]crdt.Op, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.ops) == 0 || after+1 < r.first || after+1 >= r.first+uint64(len(r.ops)) {
		return nil, false
	}
	var out []crdt.Op
	size := 0
	for _, op := range r.ops[after+1-r.first:] {
		if len(out) >= limit || size >= maxBytes {
			break
		}
		out = append(out, op)
		size += len(op.Key) + len(op.Value)
	}
	return out, true
}

func opSize(op *crdt.Op) int { return len(op.Key) + len(op.Value) + 64 }
