package httpapi

import (
	"context"
	"sync/atomic"

	"github.com/yzma/yzma/node/store"
)

// writeConcurrency is how many write requests are served at once: as many
// as one group commit takes (store.Options.MaxBatch's default), so commits
// stay full.
const writeConcurrency = 512

// writeGate bounds the write requests being served. Without it every
// connection's write is a runnable goroutine whenever a commit returns, and
// under thousands of writers a health probe or a read waits its turn behind
// all of them; with it at most writeConcurrency are, the rest are parked
// (they cost no CPU, and their bodies are not read yet). Writers waiting
// for a slot count against maxPending, past which a write is refused at
// once with store.ErrOverloaded, as the store's own queue does: no write
// waits without bound.
type writeGate struct {
	slots      chan struct{}
	pending    atomic.Int64
	maxPending int64
}

func newWriteGate(maxPending int) *writeGate {
	return &writeGate{slots: make(chan struct{}, writeConcurrency), maxPending: int64(maxPending)}
}

// enter waits for a slot and returns the function that frees it, or
// refuses with store.ErrOverloaded when too many writes are pending.
func (g *writeGate) enter(ctx context.Context) (func(), error) {
	if g.pending.Add(1) > g.maxPending {
		g.pending.Add(-1)
		return nil, store.ErrOverloaded
	}
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		g.pending.Add(-1)
		return nil, ctx.Err()
	}
	return func() {
		<-g.slots
		g.pending.Add(-1)
	}, nil
}
