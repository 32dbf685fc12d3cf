package cluster

import (
	"errors"
	"io"
	"log"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// pausableTransport is memberlist's UDP and TCP transport with a switch that
// cuts the member off from gossip both ways, as if its process froze:
// packets are dropped, and connections refused or closed.
type pausableTransport struct {
	*memberlist.NetTransport
	paused  atomic.Bool
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
	once    sync.Once
}

var errPaused = errors.New("test transport: paused")

func newPausableTransport(t testing.TB, ip string) *pausableTransport {
	t.Helper()
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{ip}, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	p := &pausableTransport{NetTransport: nt, packets: make(chan *memberlist.Packet), streams: make(chan net.Conn), done: make(chan struct{})}
	go forward(p, nt.PacketCh(), p.packets, func(*memberlist.Packet) {})
	go forward(p, nt.StreamCh(), p.streams, func(c net.Conn) { _ = c.Close() })
	return p
}

// forward passes what arrives on in to out while not paused, and drops it
// otherwise, until the transport shuts down.
func forward[T any](p *pausableTransport, in <-chan T, out chan<- T, drop func(T)) {
	for {
		select {
		case v := <-in:
			if p.paused.Load() {
				drop(v)
				continue
			}
			select {
			case out <- v:
			case <-p.done:
				return
			}
		case <-p.done:
			return
		}
	}
}

func (p *pausableTransport) PacketCh() <-chan *memberlist.Packet { return p.packets }
func (p *pausableTransport) StreamCh() <-chan net.Conn           { return p.streams }

func (p *pausableTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return p.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (p *pausableTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if p.paused.Load() {
		return time.Now(), nil // sent, and lost
	}
	return p.NetTransport.WriteToAddress(b, a)
}

func (p *pausableTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return p.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (p *pausableTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if p.paused.Load() {
		return nil, errPaused
	}
	return p.NetTransport.DialAddressTimeout(a, timeout)
}

func (p *pausableTransport) Shutdown() error {
	p.once.Do(func() { close(p.done) })
	return p.NetTransport.Shutdown()
}

// memberState is the state tn reports for member name; "" when not listed.
func memberState(tn *testNode, name string) string {
	for _, m := range tn.c.Members() {
		if m.Name == name {
			return m.State
		}
	}
	return ""
}

func TestSuspectedIn(t *testing.T) {
	tests := []struct {
		line, want string
		ok         bool
	}{
		{"[INFO] memberlist: Suspect node-2 has failed, no acks received", "node-2", true},
		{"[INFO] memberlist: Suspect yzma-0.yzma has failed, no acks received\n", "yzma-0.yzma", true},
		{"[INFO] memberlist: Marking node-2 as failed, suspect timeout reached (0 peer confirmations)", "", false},
		{"[WARN] memberlist: Refuting a suspect message (from: node-1)", "", false},
		{"[DEBUG] memberlist: Failed UDP ping: node-2 (timeout reached)", "", false},
	}
	for _, tt := range tests {
		if got, ok := suspectedIn(tt.line); got != tt.want || ok != tt.ok {
			t.Errorf("suspectedIn(%q) = %q, %v; want %q, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

// TestStoppedMemberIsSuspectThenDead stops a member's gossip abruptly (no
// leave): the others report it suspect, then dead.
func TestStoppedMemberIsSuspectThenDead(t *testing.T) {
	nodes := newTestNet(t).startCluster(3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	c.stop()
	for _, state := range []string{"suspect", "dead"} {
		waitFor(t, 20*time.Second, "both others report the stopped member "+state, func() bool {
			return memberState(a, c.name) == state && memberState(b, c.name) == state
		})
	}
}

// TestSuspectMemberAnsweringIsAliveAgain cuts a member off from gossip until
// the other suspects it, then lets it answer again: it is reported alive
// again, without having been declared dead.
func TestSuspectMemberAnsweringIsAliveAgain(t *testing.T) {
	net := newTestNet(t)
	dir := t.TempDir()
	slow := func(c *Config) {
		base := c.Memberlist
		c.Memberlist = func() *memberlist.Config {
			mc := base()
			mc.SuspicionMult = 10 // suspicion lasts ten probe intervals before death
			return mc
		}
	}
	a := net.startNodeWith("a", 56, filepath.Join(dir, "a.db"), slow)
	tr := newPausableTransport(t, "127.0.0.57")
	b := net.startNodeWith("b", 57, filepath.Join(dir, "b.db"), slow, withSeeds(a.gossip()), func(c *Config) {
		base := c.Memberlist
		c.Memberlist = func() *memberlist.Config {
			mc := base()
			mc.Transport = tr
			return mc
		}
	})
	waitFor(t, 10*time.Second, "one cluster", func() bool { return allSeeEachOther(a, b) })

	tr.paused.Store(true)
	waitFor(t, 10*time.Second, "a suspects b", func() bool { return memberState(a, "b") == "suspect" })
	tr.paused.Store(false)
	var states []string
	waitFor(t, 10*time.Second, "a sees b alive again", func() bool {
		s := memberState(a, "b")
		if len(states) == 0 || states[len(states)-1] != s {
			states = append(states, s)
		}
		return s == "alive"
	})
	if len(states) != 2 || states[0] != "suspect" {
		t.Fatalf("a reported b %v after b answered again; want suspect then alive", states)
	}
}
