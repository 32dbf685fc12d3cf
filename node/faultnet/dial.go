package faultnet

import (
	"context"
	"net"
	"net/netip"
	"sync"
)

// DialContext returns a dial function for an http.Transport (or anything
// taking one) that dials with d (nil: a zero net.Dialer) unless the rules
// block the address's IP (host names are resolved first; any blocked IP
// refuses the dial). The connection it returns fails its next read or write
// once the rules block its peer.
func (r *Rules) DialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if d == nil {
		d = &net.Dialer{}
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ips, err := resolve(ctx, addr)
		if err != nil {
			return nil, err
		}
		for _, ip := range ips {
			if r.Blocked(ip) {
				return nil, &net.OpError{Op: "dial", Net: network, Err: blockedErr("dial", ip)}
			}
		}
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return r.Conn(c), nil
	}
}

// Conn wraps c so that it fails (and closes) on its next read or write once
// the rules block its remote IP. A connection whose remote address is not
// an IP is returned as is.
func (r *Rules) Conn(c net.Conn) net.Conn {
	ip, ok := netAddrIP(c.RemoteAddr())
	if !ok {
		return c
	}
	return &conn{Conn: c, rules: r, peer: ip}
}

type conn struct {
	net.Conn
	rules *Rules
	peer  netip.Addr
	once  sync.Once
}

func (c *conn) check(op string) error {
	if !c.rules.Blocked(c.peer) {
		return nil
	}
	c.once.Do(func() { _ = c.Conn.Close() })
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(),
		Err: blockedErr(op, c.peer)}
}

func (c *conn) Read(b []byte) (int, error) {
	if err := c.check("read"); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	if err == nil {
		if berr := c.check("read"); berr != nil {
			return 0, berr // arrived after the cut: lost
		}
	}
	return n, err
}

func (c *conn) Write(b []byte) (int, error) {
	if err := c.check("write"); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}
