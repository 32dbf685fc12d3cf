package cluster

import (
	"slices"
	"strings"

	"github.com/hashicorp/memberlist"

	"github.com/yzma/yzma/node/crdt"
)

// Member is one member as this node sees it.
type Member struct {
	Name   string
	Addr   string // gossip address
	API    string // HTTP API address
	State  string // alive, suspect, left or dead
	NodeID string
	// Lag is how many operations this node holds that the member is not
	// known to have; -1 when its version vector is not known yet.
	Lag int64
}

func stateName(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateLeft:
		return "left"
	default:
		return "dead"
	}
}

func memberView(p *peer, s memberlist.NodeStateType) Member {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := Member{Name: p.name, Addr: p.addr, API: p.ep.Addr, State: stateName(s), NodeID: p.id.String(), Lag: -1}
	if p.vv != nil {
		m.Lag = int64(p.vv.Behind(p.c.store.VersionVector()))
	}
	return m
}

// Members lists this node (left once it handed its data off, even after a
// restart), every live peer, and the peers seen leaving or dying, sorted by
// name.
func (c *Cluster) Members() []Member {
	state := "alive"
	if c.handedOff.Load() {
		state = "left"
	}
	out := []Member{{Name: c.cfg.Name, Addr: c.gossipAddr(), API: c.apiAddr(), State: state, NodeID: c.store.NodeID().String()}}
	c.mu.Lock()
	for _, p := range c.peers {
		p.mu.Lock()
		s := p.state
		p.mu.Unlock()
		out = append(out, memberView(p, s))
	}
	for _, g := range c.gone {
		out = append(out, g.Member)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// peerVVs returns the known version vectors of live peers.
func (c *Cluster) peerVVs() map[string]crdt.VersionVector {
	out := map[string]crdt.VersionVector{}
	for _, p := range c.alivePeers() {
		if vv := p.known(); vv != nil {
			out[p.name] = vv
		}
	}
	return out
}
