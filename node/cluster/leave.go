package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/store"
)

// LeaveResult is what a successful leave handed off.
type LeaveResult struct {
	// VersionVector is everything this node held when it stopped writes.
	VersionVector crdt.VersionVector
	// Peers maps every member that proved it holds all of it to the version
	// vector it reported.
	Peers map[string]crdt.VersionVector
}

// Left reports whether the node has handed its data off and left: in this
// process, or in an earlier one (its data file records it).
func (c *Cluster) Left() bool { return c.handedOff.Load() }

// Leave hands this node's data off and leaves the cluster: it refuses new
// writes (ErrLeaving), pushes every operation it holds to every other live
// member until each one's version vector covers this node's, records in
// its data file that it left, then leaves gossip. If the hand-off cannot be
// proven before ctx ends or LeaveTimeout passes it returns ErrHandOff (or
// ErrNoPeers), and if the record cannot be written that error; either way
// the node stays a full member taking writes. Reads keep being served until
// the process stops.
//
// Order. The record comes after the proof and before any announcement: a
// node that told its peers (and through them the operator, who then
// deletes its pod and perhaps its volume) that it left has always recorded
// it, so a restart cannot bring it back into gossip taking writes. A crash
// between the record and the announcement leaves a node that restarts out
// of the cluster while its peers see it as dead, which is safe (it holds
// nothing they lack) and which a repeated Leave turns into left.
//
// After a successful leave, Leave returns the same result again (read
// back from the data file after a restart) and announces the leave once
// more, for members that missed it: see reannounce. It never makes the
// node a member again; Rejoin does.
func (c *Cluster) Leave(ctx context.Context) (*LeaveResult, error) {
	c.leaveMu.Lock()
	defer c.leaveMu.Unlock()
	if c.left != nil {
		c.reannounce(ctx)
		c.metrics.leaves.WithLabelValues("repeated").Inc()
		return c.left, nil
	}
	c.gate.Lock() // waits for admitted writes to become durable
	c.leaving = true
	c.gate.Unlock()
	res, err := c.handOff(ctx)
	if err == nil {
		err = c.store.MarkLeft(ctx, store.LeftMark{VersionVector: res.VersionVector, Peers: res.Peers, At: time.Now().UTC().Truncate(time.Second)})
	}
	if err != nil {
		c.gate.Lock()
		c.leaving = false
		c.gate.Unlock()
		c.metrics.leaves.WithLabelValues("failed").Inc()
		return nil, err
	}
	c.left = res
	c.handedOff.Store(true) // gossiped from here on (NodeMeta)
	c.ready.Store(false)
	if s := c.gossip(); s != nil {
		c.announceLeft(s)
		s.cancel() // stop replicating; reads go on and the memberlist answers that it left
	}
	c.metrics.leaves.WithLabelValues("ok").Inc()
	c.log.Info("left the cluster; recorded in the data file, so it stays out across restarts until told to rejoin",
		"handed_off_to", len(res.Peers))
	return res, nil
}

// announceLeft gossips through s that this node handed its data off (its
// metadata's Left flag) and then leaves gossip, each step waiting at most
// LeaveTimeout for its broadcast to go out. The memberlist keeps running,
// answering whoever asks that this member left.
func (c *Cluster) announceLeft(s *session) {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	if c.closed || c.gossip() != s {
		return
	}
	if err := s.ml.UpdateNode(c.cfg.LeaveTimeout); err != nil {
		c.log.Warn("announcing the hand-off failed", "error", err)
	}
	if err := s.ml.Leave(c.cfg.LeaveTimeout); err != nil {
		c.log.Warn("leave broadcast incomplete", "error", err)
	}
}

// reannounce announces again that this node left, for members that missed
// the first announcement (they see it as dead, and a dead member holds log
// pruning back for DeadGrace) or never heard of it. A memberlist that has
// left cannot speak again, and a node that left before a restart has none,
// so a new session starts on the same address, its metadata saying Left,
// without replication: it joins the seeds and the members this node knew,
// refutes what they last heard of it (memberlist's refutation raises its
// incarnation above theirs, so they take it in) and leaves again. Members
// count it as left from its first message on (see upsert), never as alive.
// It is best effort: the hand-off was proven before the first
// announcement, so a member that misses this one too only goes on seeing a
// dead member.
func (c *Cluster) reannounce(ctx context.Context) {
	known := c.knownAddrs()
	s, err := c.startSession(false)
	if err != nil {
		c.log.Warn("announcing the leave again failed", "error", err)
		return
	}
	seeds := c.seeds(ctx, s, known)
	n := 0
	if len(seeds) > 0 {
		n, err = s.ml.Join(seeds)
	}
	c.announceLeft(s)
	if n == 0 {
		c.log.Warn("announcing the leave again reached no member", "seeds", seeds, "error", err)
		return
	}
	c.log.Info("announced the leave again", "contacted", n)
}

// knownAddrs returns the gossip addresses of the members this node has
// seen, alive or gone.
func (c *Cluster) knownAddrs() []string {
	var out []string
	if s := c.gossip(); s != nil {
		for _, n := range s.ml.Members() {
			if n.Name != c.cfg.Name {
				out = append(out, n.Address())
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.peers {
		p.mu.Lock()
		out = append(out, p.addr)
		p.mu.Unlock()
	}
	for _, g := range c.gone {
		out = append(out, g.Addr)
	}
	return out
}

// Rejoin makes a node that left a member again: it clears the record of
// the leave in its data file (durably, first: a crash right after leaves a
// node that joins at its next start, as asked), starts gossip anew and
// joins through its configured seeds like a fresh start, catching up
// before it reports ready and takes writes (see Join). It returns once the
// node is ready, or ctx ends (the catch-up goes on). On a node that has not
// left it does nothing.
//
// The process keeps its origin: after the hand-off it minted nothing, so
// every dot of it is held by the members it handed off to, and new writes
// continue its counter where they left it.
func (c *Cluster) Rejoin(ctx context.Context) error {
	s, err := c.rejoinSession(ctx)
	if err != nil || s == nil {
		return err
	}
	done := make(chan error, 1)
	if !c.track(func() { done <- c.join(s.ctx, s, nil) }) {
		return ErrClosed
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rejoinSession clears the leave and starts a replicating session; nil
// when the node is a member (or joining) already.
func (c *Cluster) rejoinSession(ctx context.Context) (*session, error) {
	c.leaveMu.Lock()
	defer c.leaveMu.Unlock()
	if s := c.gossip(); !c.handedOff.Load() && s != nil && s.ctx.Err() == nil {
		return nil, nil
	}
	if err := c.store.ClearLeft(ctx); err != nil {
		return nil, fmt.Errorf("rejoin: %w", err)
	}
	c.left = nil
	c.ready.Store(false) // first: Node refuses writes while not ready and not left
	c.handedOff.Store(false)
	c.gate.Lock()
	c.leaving = false
	c.gate.Unlock()
	c.dropPeers() // the senders of the session that left have stopped
	s, err := c.startSession(true)
	if err != nil {
		return nil, fmt.Errorf("rejoin: %w", err)
	}
	c.log.Info("rejoining the cluster: the record of the leave is cleared")
	return s, nil
}

func (c *Cluster) handOff(ctx context.Context) (*LeaveResult, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LeaveTimeout)
	defer cancel()
	c.allPush.Store(true)
	defer c.allPush.Store(false)
	target := c.store.VersionVector()
	for {
		peers := c.alivePeers()
		if len(peers) == 0 {
			return nil, ErrNoPeers
		}
		res := &LeaveResult{VersionVector: target, Peers: map[string]crdt.VersionVector{}}
		var behind []string
		for _, p := range peers {
			vv, err := c.cfg.Transport.VersionVector(ctx, p.endpoint())
			if err == nil {
				p.observe(vv)
			}
			if err != nil || !vv.Dominates(target) {
				behind = append(behind, p.name)
				p.wake()
				continue
			}
			res.Peers[p.name] = vv
		}
		if len(behind) == 0 {
			return res, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v still lack operations of this node: %w", ErrHandOff, behind, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
