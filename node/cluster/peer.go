package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/store"
)

// peer is another member and the sender that pushes operations to it.
type peer struct {
	name string
	c    *Cluster
	ctx  context.Context // its session's: the sender stops when it ends

	mu     sync.Mutex
	id     crdt.NodeID
	origin crdt.NodeID
	ep     Endpoint // its API
	addr   string
	state  memberlist.NodeStateType
	vv     crdt.VersionVector // what it is known to have applied; nil: unknown
	heard  time.Time          // when it last reported vv (a call's answer)

	wakeCh chan struct{}
	done   chan struct{}
	once   sync.Once
}

func (c *Cluster) newPeer(ctx context.Context, n *memberlist.Node, m meta) *peer {
	p := &peer{name: n.Name, c: c, ctx: ctx, id: m.ID, origin: m.Origin, ep: m.endpoint(), addr: n.Address(), state: memberlist.StateAlive,
		wakeCh: make(chan struct{}, 1), done: make(chan struct{})}
	c.wg.Add(1)
	go p.sendLoop()
	return p
}

func (p *peer) wake() {
	select {
	case p.wakeCh <- struct{}{}:
	default:
	}
}

func (p *peer) stop() { p.once.Do(func() { close(p.done) }) }

func (p *peer) live() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state == memberlist.StateAlive || p.state == memberlist.StateSuspect
}

// endpoint is the peer's API, which gossip may change.
func (p *peer) endpoint() Endpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ep
}

func (p *peer) known() crdt.VersionVector {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.vv
}

// observe records a version vector the peer reported.
func (p *peer) observe(vv crdt.VersionVector) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.vv == nil {
		p.vv = crdt.VersionVector{}
	}
	next := p.vv.Clone()
	next.Merge(vv)
	p.vv = next
	p.heard = time.Now()
}

// vvRefresh is how old what a peer last reported may be before a push
// asks it again: between, each push's answer keeps it current, so a push
// is one call rather than two.
const vvRefresh = time.Second

// fresh reports whether the peer's vector was reported within vvRefresh.
// A vector a little behind only makes a push resend operations the peer
// skips; it is never ahead (a restart under a new origin forgets it).
func (p *peer) fresh() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.vv != nil && time.Since(p.heard) < vvRefresh
}

// sendLoop pushes operations whenever woken, and at least every second
// (which also refreshes the peer's version vector for lag and pruning).
func (p *peer) sendLoop() {
	defer p.c.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	backoff := time.Duration(0)
	for {
		select {
		case <-p.done:
			return
		case <-p.ctx.Done():
			return
		case <-p.wakeCh:
		case <-t.C:
		}
		if backoff > 0 {
			select {
			case <-time.After(backoff):
			case <-p.done:
				return
			}
		}
		if err := p.push(); err != nil {
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
			p.c.log.Debug("push failed", "peer", p.name, "error", err)
			continue
		}
		backoff = 0
	}
}

// push sends the peer everything this node has that it lacks: the
// operations of this data file's origins (this process's and those of its
// earlier starts), or every origin's while leaving.
func (p *peer) push() error {
	ctx := p.ctx
	ep := p.endpoint()
	if !p.fresh() {
		vv, err := p.c.cfg.Transport.VersionVector(ctx, ep)
		if err != nil {
			return err
		}
		p.observe(vv)
	}
	mine := p.c.store.VersionVector()
	for origin, upTo := range mine {
		if !p.c.store.IsOwn(origin) && !p.c.allPush.Load() {
			continue
		}
		for have := p.known()[origin]; have < upTo; have = p.known()[origin] {
			ops, err := p.c.store.OpsSince(origin, have, batchOps, batchBytes)
			if errors.Is(err, store.ErrPruned) {
				break // too far behind for the log: the peer takes a snapshot
			}
			if err != nil {
				return err
			}
			if len(ops) == 0 {
				break
			}
			start := time.Now()
			after, err := p.c.cfg.Transport.Push(ctx, ep, ops)
			if err != nil {
				return err
			}
			p.c.metrics.pushed(p.name, len(ops), opsBytes(ops), time.Since(start))
			if after[origin] <= have {
				break // the peer applied nothing (a gap on its side): anti-entropy mends it
			}
			p.observe(after)
		}
	}
	return nil
}
