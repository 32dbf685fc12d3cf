package cluster

import (
	"io"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/hashicorp/memberlist"
)

// delegate hooks gossip: metadata and, on push/pull, version vectors.
type delegate Cluster

func (d *delegate) NodeMeta(limit int) []byte {
	b, _ := cbor.Marshal(meta{ID: d.store.NodeID(), Origin: d.store.Origin(), API: (*Cluster)(d).apiAddr(), Left: d.handedOff.Load(),
		APIName: d.cfg.APIName, TLS: d.cfg.APITLS, Zstd: true})
	return b
}

func (d *delegate) NotifyMsg([]byte)                  {}
func (d *delegate) GetBroadcasts(_, _ int) [][]byte   { return nil }
func (d *delegate) LocalState(bool) []byte            { return nil }
func (d *delegate) MergeRemoteState(_ []byte, _ bool) {}

// events keeps the peer table in step with one session's membership.
type events struct {
	c *Cluster
	s *session
}

func (e *events) NotifyJoin(n *memberlist.Node)   { e.c.upsert(e.s, n, false) }
func (e *events) NotifyUpdate(n *memberlist.Node) { e.c.upsert(e.s, n, false) }
func (e *events) NotifyLeave(n *memberlist.Node)  { e.c.upsert(e.s, n, true) }

// upsert records a member's new state, as session s reports it.
// memberlist does not say whether a member that went away left or died: a
// member that handed its data off says so in its metadata (Left) before it
// leaves gossip, and from then on it counts as left, whether gossip still
// lists it or not. So a member that announces its leave again (see Leave)
// turns from dead, or unknown, to left without ever counting as alive.
func (c *Cluster) upsert(s *session, n *memberlist.Node, gone bool) {
	if n.Name == c.cfg.Name || s.ended.Load() {
		return
	}
	m, err := decodeMeta(n.Meta)
	if err != nil {
		c.log.Warn("bad member metadata", "member", n.Name, "error", err)
		return
	}
	state := memberlist.StateAlive
	switch {
	case m.Left:
		state = memberlist.StateLeft
	case gone:
		state = memberlist.StateDead
	}
	live := state == memberlist.StateAlive
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.peers[n.Name]
	if p == nil {
		switch {
		case live && (s.ctx.Err() != nil || c.handedOff.Load()):
			// This node left (or is announcing that again): it takes on
			// no peers to replicate with.
		case live:
			c.peers[n.Name] = c.newPeer(s.ctx, n, m)
			delete(c.gone, n.Name)
			c.log.Info("member joined", "peer", n.Name, "addr", n.Address(), "node_id", m.ID)
		case state == memberlist.StateLeft:
			if g, ok := c.gone[n.Name]; !ok || g.State != stateName(state) {
				c.gone[n.Name] = goneMember{
					Member: Member{Name: n.Name, Addr: n.Address(), API: m.API, State: stateName(state), NodeID: m.ID.String(), Lag: -1},
					vv:     g.vv, since: time.Now(),
				}
				c.log.Info("member left", "peer", n.Name, "was", g.State)
			}
		}
		return
	}
	p.mu.Lock()
	if p.id != m.ID || p.origin != m.Origin { // a restart, or a new data file under the same name
		p.vv = nil
	}
	p.id, p.origin, p.ep, p.addr, p.state = m.ID, m.Origin, m.endpoint(), n.Address(), state
	p.mu.Unlock()
	if !live {
		c.log.Info("member gone", "peer", n.Name, "state", stateName(state))
		p.stop()
		delete(c.peers, n.Name)
		c.gone[n.Name] = goneMember{Member: memberView(p, state), vv: p.known(), since: time.Now()}
		return
	}
	delete(c.gone, n.Name)
}

// Suspicion. memberlist (v0.7) tells no delegate that it suspects a member,
// and the State of the nodes its Members returns is never updated (its own
// state field shadows it: it always reads alive). What it does do is log a
// line when this node's own probe of a member failed and it marks the member
// suspect; memberlistLog reads that line (TestStoppedMemberIsSuspectThenDead
// notices if an upgrade changes it). A suspect member is alive again once it
// acknowledges one of this node's probes (pings) or memberlist reports it
// joined or updated (events); memberlist itself clears suspicion when the
// member refutes it, which the member does as soon as it hears of it. A
// suspicion this node only heard of from another member shows once its own
// probe fails too, within a probe round.

// The parts of memberlist's log line for a member its probe suspects.
const (
	suspectPrefix = "memberlist: Suspect "
	suspectSuffix = " has failed, no acks received"
)

// suspectedIn returns the member a memberlist log line says is suspect.
func suspectedIn(line string) (string, bool) {
	_, rest, ok := strings.Cut(line, suspectPrefix)
	if !ok {
		return "", false
	}
	name, _, ok := strings.Cut(rest, suspectSuffix)
	return name, ok && name != ""
}

// memberlistLog turns memberlist's log lines into debug records and marks
// the members they report suspect.
type memberlistLog struct{ c *Cluster }

func (w memberlistLog) Write(b []byte) (int, error) {
	line := strings.TrimSpace(string(b))
	w.c.log.Debug("memberlist", "msg", line)
	if name, ok := suspectedIn(line); ok {
		w.c.setSuspect(name, true)
	}
	return len(b), nil
}

var _ io.Writer = memberlistLog{}

// pings sees this node's probes answered.
type pings Cluster

func (p *pings) AckPayload() []byte { return nil }

func (p *pings) NotifyPingComplete(n *memberlist.Node, _ time.Duration, _ []byte) {
	(*Cluster)(p).setSuspect(n.Name, false)
}

// setSuspect moves a live peer between alive and suspect.
func (c *Cluster) setSuspect(name string, suspect bool) {
	c.mu.Lock()
	p := c.peers[name]
	c.mu.Unlock()
	if p == nil {
		return
	}
	from, to := memberlist.StateSuspect, memberlist.StateAlive
	if suspect {
		from, to = to, from
	}
	p.mu.Lock()
	changed := p.state == from
	if changed {
		p.state = to
	}
	p.mu.Unlock()
	if changed {
		c.log.Info("member state changed", "peer", name, "state", stateName(to))
	}
}
