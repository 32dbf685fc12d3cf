package faultnet

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// WrapTransport returns inner (such as a *memberlist.NetTransport) filtered
// by r: outgoing packets to a blocked IP are dropped silently, incoming ones
// from a blocked IP are dropped, dials to a blocked IP fail, incoming
// streams from a blocked IP are closed, and streams fail once their peer is
// blocked. Shutdown shuts inner down.
func WrapTransport(inner memberlist.NodeAwareTransport, r *Rules) memberlist.NodeAwareTransport {
	t := &transport{
		NodeAwareTransport: inner,
		rules:              r,
		packets:            make(chan *memberlist.Packet),
		streams:            make(chan net.Conn),
		stopping:           make(chan struct{}),
		innerDone:          make(chan struct{}),
	}
	t.wg.Add(2)
	go t.forwardPackets()
	go t.forwardStreams()
	return t
}

type transport struct {
	memberlist.NodeAwareTransport
	rules *Rules

	packets chan *memberlist.Packet
	streams chan net.Conn

	stopOnce  sync.Once
	stopping  chan struct{} // closed first on Shutdown: stop delivering
	innerDone chan struct{} // closed once inner has shut down: stop draining
	wg        sync.WaitGroup
}

var _ memberlist.NodeAwareTransport = (*transport)(nil)

// forwardPackets passes inner's packets on, except those from blocked IPs.
// It keeps draining inner until inner has shut down, since inner's
// listeners block on their channel and its Shutdown waits for them.
func (t *transport) forwardPackets() {
	defer t.wg.Done()
	in := t.NodeAwareTransport.PacketCh()
	for {
		select {
		case p := <-in:
			if ip, ok := netAddrIP(p.From); ok && t.rules.Blocked(ip) {
				continue
			}
			select {
			case t.packets <- p:
			case <-t.stopping:
			}
		case <-t.innerDone:
			return
		}
	}
}

// forwardStreams passes inner's incoming streams on, closing those from
// blocked IPs.
func (t *transport) forwardStreams() {
	defer t.wg.Done()
	in := t.NodeAwareTransport.StreamCh()
	for {
		select {
		case c := <-in:
			if ip, ok := netAddrIP(c.RemoteAddr()); ok && t.rules.Blocked(ip) {
				_ = c.Close()
				continue
			}
			select {
			case t.streams <- t.rules.Conn(c):
			case <-t.stopping:
				_ = c.Close()
			}
		case <-t.innerDone:
			return
		}
	}
}

func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

func (t *transport) StreamCh() <-chan net.Conn { return t.streams }

func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.blocked(a.Addr) {
		return time.Now(), nil // lost on the way
	}
	return t.NodeAwareTransport.WriteToAddress(b, a)
}

func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.blocked(a.Addr) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("dial %s: %w", a.Addr, ErrBlocked)}
	}
	c, err := t.NodeAwareTransport.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	return t.rules.Conn(c), nil
}

// blocked reports whether addr's host (resolved if a name) is blocked.
func (t *transport) blocked(addr string) bool {
	if ip, ok := addrIP(addr); ok {
		return t.rules.Blocked(ip)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ips, err := resolve(ctx, addr)
	if err != nil {
		return false // inner reports the bad address
	}
	for _, ip := range ips {
		if t.rules.Blocked(ip) {
			return true
		}
	}
	return false
}

func (t *transport) Shutdown() error {
	var err error
	t.stopOnce.Do(func() {
		close(t.stopping)
		err = t.NodeAwareTransport.Shutdown()
		close(t.innerDone)
		t.wg.Wait()
	})
	return err
}
