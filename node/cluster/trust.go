package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/yzma/yzma/node/crdt"
)

// ErrForged is returned for operations or a snapshot vector that claim
// counters of an origin beyond what its owner has made, or beyond what the
// sender itself claims to hold: no honest peer sends them, and taking them
// would make this replica skip the real operations under those counters
// for good.
var ErrForged = errors.New("claims operations their origin has not made")

// verifyTimeout bounds asking an origin's owner what it has made.
const verifyTimeout = 5 * time.Second

// checkClaims checks, for every origin in claims (origin → highest counter
// claimed) that is the current origin of a live member other than the
// sender, that the member has made that many operations: first against
// what it last reported, then, when the claim is higher, by asking it.
// The sender is the peer named sender, or the members whose API address
// has the IP senderIP (a push names no one; peers dial from their own
// address). Origins of no live member (earlier processes, departed
// members) cannot be checked; an owner that cannot be asked is not
// evidence of a forgery, so the claim is then taken.
func (c *Cluster) checkClaims(ctx context.Context, claims crdt.VersionVector, sender *peer, senderIP string) error {
	for origin, claimed := range claims {
		q := c.ownerOf(origin)
		if q == nil || q == sender || senderIP != "" && q.endpointIP() == senderIP {
			continue
		}
		if claimed <= q.known()[origin] {
			continue
		}
		vctx, cancel := context.WithTimeout(ctx, verifyTimeout)
		vv, err := c.cfg.Transport.VersionVector(vctx, q.endpoint())
		cancel()
		if err != nil {
			c.log.Debug("cannot verify a claim with its origin's owner", "owner", q.name, "origin", origin, "error", err)
			continue
		}
		q.observe(vv)
		if claimed > vv[origin] {
			return fmt.Errorf("%w: %d operations of %v (member %s), which has made %d", ErrForged, claimed, origin, q.name, vv[origin])
		}
	}
	return nil
}

// ownerOf is the live member whose current process mints under origin.
func (c *Cluster) ownerOf(origin crdt.NodeID) *peer {
	for _, p := range c.alivePeers() {
		p.mu.Lock()
		mine := p.origin == origin
		p.mu.Unlock()
		if mine {
			return p
		}
	}
	return nil
}

// endpointIP is the host of the peer's API address.
func (p *peer) endpointIP() string {
	host, _, _ := net.SplitHostPort(p.endpoint().Addr)
	return host
}

// checkPulled checks a batch pulled from p for origin after counter after:
// only that origin, counters rising from after on, and none its owner has
// not made. It returns the batch cut at what p's own vector claimed
// (upTo): an honest peer's log may have grown since it answered its
// vector, and what lies beyond is pulled in a later round, once claimed.
// A batch with nothing within the claim is refused.
func (c *Cluster) checkPulled(ctx context.Context, p *peer, origin crdt.NodeID, after, upTo uint64, ops []crdt.Op) ([]crdt.Op, error) {
	last := after
	for i, op := range ops {
		switch {
		case op.Dot.Node != origin:
			return nil, fmt.Errorf("%w: asked for %v, got %v", ErrForged, origin, op.Dot)
		case op.Dot.Counter <= last:
			return nil, fmt.Errorf("%w: %v out of order (after counter %d)", ErrForged, op.Dot, last)
		}
		if op.Dot.Counter > upTo {
			if i == 0 {
				return nil, fmt.Errorf("%w: %v beyond the %d the sender's own vector claims", ErrForged, op.Dot, upTo)
			}
			ops = ops[:i]
			break
		}
		last = op.Dot.Counter
	}
	if len(ops) == 0 {
		return nil, nil
	}
	return ops, c.checkClaims(ctx, crdt.VersionVector{origin: last}, p, "")
}

// claimsOf is the highest counter of each origin in ops.
func claimsOf(ops []crdt.Op) crdt.VersionVector {
	vv := crdt.VersionVector{}
	for _, op := range ops {
		vv[op.Dot.Node] = max(vv[op.Dot.Node], op.Dot.Counter)
	}
	return vv
}
