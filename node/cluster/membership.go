package cluster

import (
	"github.com/fxamacker/cbor/v2"
	"github.com/hashicorp/memberlist"
)

// delegate hooks gossip: metadata and, on push/pull, version vectors.
type delegate Cluster

func (d *delegate) NodeMeta(limit int) []byte {
	b, _ := cbor.Marshal(meta{ID: d.store.NodeID(), API: (*Cluster)(d).apiAddr(), Left: d.handedOff.Load()})
	return b
}

func (d *delegate) NotifyMsg([]byte)                  {}
func (d *delegate) GetBroadcasts(_, _ int) [][]byte   { return nil }
func (d *delegate) LocalState(bool) []byte            { return nil }
func (d *delegate) MergeRemoteState(_ []byte, _ bool) {}

// events keeps the peer table in step with membership.
type events Cluster

func (e *events) NotifyJoin(n *memberlist.Node)   { (*Cluster)(e).upsert(n, false) }
func (e *events) NotifyUpdate(n *memberlist.Node) { (*Cluster)(e).upsert(n, false) }
func (e *events) NotifyLeave(n *memberlist.Node)  { (*Cluster)(e).upsert(n, true) }

// upsert records a member's new state. memberlist does not say whether a
// member that went away left or died; a member that handed its data off
// says so in its metadata before it leaves.
func (c *Cluster) upsert(n *memberlist.Node, gone bool) {
	if n.Name == c.cfg.Name {
		return
	}
	m, err := decodeMeta(n.Meta)
	if err != nil {
		c.log.Warn("bad member metadata", "member", n.Name, "error", err)
		return
	}
	state := memberlist.StateAlive
	switch {
	case gone && m.Left:
		state = memberlist.StateLeft
	case gone:
		state = memberlist.StateDead
	}
	live := !gone
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.peers[n.Name]
	switch {
	case p == nil && live:
		c.peers[n.Name] = c.newPeer(n, m)
		c.log.Info("member joined", "peer", n.Name, "addr", n.Address(), "node_id", m.ID)
		return
	case p == nil:
		return
	}
	p.mu.Lock()
	if p.id != m.ID { // a new data file under the same name: a new node
		p.vv = nil
	}
	p.id, p.api, p.addr, p.state = m.ID, m.API, n.Address(), state
	p.mu.Unlock()
	if !live {
		c.log.Info("member gone", "peer", n.Name, "state", stateName(state))
		p.stop()
		delete(c.peers, n.Name)
		c.gone[n.Name] = memberView(p, state)
		return
	}
	delete(c.gone, n.Name)
}
