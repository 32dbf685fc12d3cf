package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/yzma/yzma/node/crdt"
)

// LeaveResult is what a successful leave handed off.
type LeaveResult struct {
	// VersionVector is everything this node held when it stopped writes.
	VersionVector crdt.VersionVector
	// Peers maps every member that proved it holds all of it to the version
	// vector it reported.
	Peers map[string]crdt.VersionVector
}

// Left reports whether the node has handed its data off and left.
func (c *Cluster) Left() bool { return c.handedOff.Load() }

func (c *Cluster) hasLeft() bool {
	c.leaveMu.Lock()
	defer c.leaveMu.Unlock()
	return c.left != nil
}

// Leave hands this node's data off and leaves the cluster: it refuses new
// writes (ErrLeaving), pushes every operation it holds to every other live
// member until each one's version vector covers this node's, then leaves
// gossip. If that cannot be proven before ctx ends or LeaveTimeout passes it
// returns ErrHandOff (or ErrNoPeers) and the node stays a full member taking
// writes. After a successful leave, Leave returns the same result again.
// Reads keep being served until the process stops.
func (c *Cluster) Leave(ctx context.Context) (*LeaveResult, error) {
	c.leaveMu.Lock()
	defer c.leaveMu.Unlock()
	if c.left != nil {
		return c.left, nil
	}
	c.gate.Lock() // waits for admitted writes to become durable
	c.leaving = true
	c.gate.Unlock()
	res, err := c.handOff(ctx)
	if err != nil {
		c.gate.Lock()
		c.leaving = false
		c.gate.Unlock()
		c.metrics.leaves.WithLabelValues("failed").Inc()
		return nil, err
	}
	c.handedOff.Store(true)
	if err := c.ml.UpdateNode(c.cfg.LeaveTimeout); err != nil {
		c.log.Warn("announcing the hand-off failed", "error", err)
	}
	if err := c.ml.Leave(c.cfg.LeaveTimeout); err != nil {
		c.log.Warn("leave broadcast incomplete", "error", err)
	}
	c.left = res
	c.cancel() // stop replicating; reads go on
	c.metrics.leaves.WithLabelValues("ok").Inc()
	c.log.Info("left the cluster", "handed_off_to", len(res.Peers))
	return res, nil
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
			vv, err := c.cfg.Transport.VersionVector(ctx, p.apiAddr())
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
