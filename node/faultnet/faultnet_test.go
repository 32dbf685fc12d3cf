package faultnet_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/yzma/yzma/internal/testwait"
	"github.com/yzma/yzma/node/faultnet"
)

// The tests use loopback addresses of their own.
const (
	ipA = "127.0.0.251"
	ipB = "127.0.0.252"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		bad      []string
	}{
		{"empty", "", nil, nil},
		{"comments and blanks", "# header\n\n   \n127.0.0.2 # node 2\n#127.0.0.3\n", []string{"127.0.0.2"}, nil},
		{"several, duplicates", "127.0.0.2\n127.0.0.3\r\n127.0.0.2\n", []string{"127.0.0.2", "127.0.0.3"}, nil},
		{"IPv6 and mapped IPv4", "::1\n::ffff:127.0.0.9\n", []string{"127.0.0.9", "::1"}, nil},
		{"not IPs", "127.0.0.2\nnode-1\n10.0.0.0/8\n127.0.0.1:80\n", []string{"127.0.0.2"}, []string{"node-1", "10.0.0.0/8", "127.0.0.1:80"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, bad := faultnet.Parse([]byte(tc.in))
			var ips []string
			for _, ip := range slices.SortedFunc(maps.Keys(got), netip.Addr.Compare) {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, tc.want) || !slices.Equal(bad, tc.bad) {
				t.Fatalf("Parse = %q, bad %q; want %q, bad %q", ips, bad, tc.want, tc.bad)
			}
		})
	}
}

// setRules writes the rules file and waits until r has read it.
func setRules(t *testing.T, r *faultnet.Rules, ips ...string) {
	t.Helper()
	if err := faultnet.WriteRules(r.Path(), ips); err != nil {
		t.Fatal(err)
	}
	waitRules(t, r, ips...)
}

func waitRules(t *testing.T, r *faultnet.Rules, ips ...string) {
	t.Helper()
	want := fmt.Sprint(slices.Sorted(slices.Values(ips)))
	testwait.For(t, "rules "+want, 2*time.Second, 5*time.Millisecond, func() bool {
		var got []string
		for _, ip := range r.List() {
			got = append(got, ip.String())
		}
		return fmt.Sprint(got) == want
	}, func() string { return fmt.Sprint(r.List()) })
}

func mustIP(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestRulesFollowTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules")
	r := faultnet.NewRules(path)
	if r.Blocked(mustIP("127.0.0.2")) || len(r.List()) != 0 {
		t.Fatal("a missing file blocks something")
	}
	setRules(t, r, "127.0.0.2", "127.0.0.3")
	if !r.Blocked(mustIP("127.0.0.2")) || !r.BlockedAddr("127.0.0.3:7946") || !r.BlockedAddr("[::ffff:127.0.0.3]:1") ||
		r.Blocked(mustIP("127.0.0.4")) || r.BlockedAddr("localhost:80") {
		t.Fatalf("rules %v block the wrong addresses", r.List())
	}
	// Same size, other content: still seen (the file is replaced).
	setRules(t, r, "127.0.0.4", "127.0.0.5")
	if r.Blocked(mustIP("127.0.0.2")) || !r.Blocked(mustIP("127.0.0.5")) {
		t.Fatalf("rules %v after a rewrite", r.List())
	}
	// Rewritten in place, with a line that is not an IP.
	if err := os.WriteFile(path, []byte("127.0.0.6\nbogus\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitRules(t, r, "127.0.0.6")
	if bad := r.BadLines(); !slices.Equal(bad, []string{"bogus"}) {
		t.Fatalf("BadLines = %q", bad)
	}
	setRules(t, r)
	setRules(t, r, "127.0.0.7")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitRules(t, r)
	if err := faultnet.WriteRules(path, []string{"nope"}); err == nil {
		t.Fatal("WriteRules accepted a host name")
	}
}

// echoServer accepts connections on ip and echoes every line back.
func echoServer(t *testing.T, ip string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s (needs 127.0.0.0/8 on loopback): %v", ip, err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln
}

func roundTrip(c net.Conn, msg string) error {
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(c, msg); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && line != msg+"\n" {
		err = fmt.Errorf("echo %q, want %q", line, msg)
	}
	return err
}

func TestDialContext(t *testing.T) {
	ln := echoServer(t, ipB)
	r := faultnet.NewRules(filepath.Join(t.TempDir(), "rules"))
	dial := r.DialContext(nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	c, err := dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, "before the cut"); err != nil {
		t.Fatal(err)
	}
	setRules(t, r, ipB)
	if _, err := dial(ctx, "tcp", ln.Addr().String()); !errors.Is(err, faultnet.ErrBlocked) {
		t.Fatalf("dial to a blocked IP: %v", err)
	}
	if err := roundTrip(c, "after the cut"); !errors.Is(err, faultnet.ErrBlocked) {
		t.Fatalf("open connection after the cut: %v", err)
	}
	setRules(t, r, ipA)
	c2, err := dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial after the cut healed: %v", err)
	}
	defer c2.Close()
	if err := roundTrip(c2, "healed"); err != nil {
		t.Fatal(err)
	}
}

// newNetTransport listens for gossip on ip, on a port of the kernel's choice.
func newNetTransport(t *testing.T, ip string) *memberlist.NetTransport {
	t.Helper()
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{ip}, BindPort: 0, Logger: log.New(io.Discard, "", 0),
	})
	if err != nil {
		t.Skipf("cannot listen on %s (needs 127.0.0.0/8 on loopback): %v", ip, err)
	}
	return nt
}

func gossipAddr(ip string, nt *memberlist.NetTransport) memberlist.Address {
	return memberlist.Address{Addr: net.JoinHostPort(ip, fmt.Sprint(nt.GetAutoBindPort()))}
}

// nextPacket returns the next packet's payload.
func nextPacket(t *testing.T, ch <-chan *memberlist.Packet) string {
	t.Helper()
	select {
	case p := <-ch:
		return string(p.Buf)
	case <-time.After(5 * time.Second):
		t.Fatal("no packet within 5s")
		return ""
	}
}

func send(t *testing.T, tr memberlist.NodeAwareTransport, to memberlist.Address, msg string) {
	t.Helper()
	if _, err := tr.WriteToAddress([]byte(msg), to); err != nil {
		t.Fatalf("send %q: %v", msg, err)
	}
}

func TestWrapTransport(t *testing.T) {
	ntA, ntB := newNetTransport(t, ipA), newNetTransport(t, ipB)
	defer func() { _ = ntB.Shutdown() }()
	r := faultnet.NewRules(filepath.Join(t.TempDir(), "rules"))
	a := faultnet.WrapTransport(ntA, r)
	shutDown := false
	defer func() {
		if !shutDown {
			_ = a.Shutdown()
		}
	}()
	addrA, addrB := gossipAddr(ipA, ntA), gossipAddr(ipB, ntB)

	t.Run("packets", func(t *testing.T) {
		send(t, ntB, addrA, "b1")
		if got := nextPacket(t, a.PacketCh()); got != "b1" {
			t.Fatalf("a got %q", got)
		}
		send(t, a, addrB, "a1")
		if got := nextPacket(t, ntB.PacketCh()); got != "a1" {
			t.Fatalf("b got %q", got)
		}
		setRules(t, r, ipB)
		send(t, ntB, addrA, "b2 (cut)")
		send(t, a, addrB, "a2 (cut)")
		setRules(t, r)
		// What was sent during the cut never arrives: the next packet
		// each side gets is the one sent after it.
		send(t, ntB, addrA, "b3")
		send(t, a, addrB, "a3")
		if got := nextPacket(t, a.PacketCh()); got != "b3" {
			t.Fatalf("a got %q, want the packet sent after the cut", got)
		}
		if got := nextPacket(t, ntB.PacketCh()); got != "a3" {
			t.Fatalf("b got %q, want the packet sent after the cut", got)
		}
	})

	t.Run("streams", func(t *testing.T) {
		setRules(t, r, ipB)
		if _, err := a.DialAddressTimeout(addrB, time.Second); !errors.Is(err, faultnet.ErrBlocked) {
			t.Fatalf("dial to a blocked IP: %v", err)
		}
		// The kernel accepts, the wrapper closes: the dialer reads EOF.
		// (Dialed from B's address: on loopback a dial's source is
		// 127.0.0.1 unless bound.)
		d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ipB)}}
		in, err := d.Dial("tcp", addrA.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		_ = in.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := in.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("stream from a blocked IP: read %d, %v; want EOF", n, err)
		}

		setRules(t, r)
		out, err := a.DialAddressTimeout(addrB, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		var accepted net.Conn
		select {
		case accepted = <-ntB.StreamCh():
		case <-time.After(5 * time.Second):
			t.Fatal("b accepted no stream")
		}
		defer accepted.Close()
		if _, err := out.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		setRules(t, r, ipB)
		if _, err := out.Write([]byte("y")); !errors.Is(err, faultnet.ErrBlocked) {
			t.Fatalf("write on a stream after the cut: %v", err)
		}
	})

	t.Run("shutdown", func(t *testing.T) {
		setRules(t, r)
		// Packets nobody reads must not hold the shutdown up.
		for i := range 5 {
			send(t, ntB, addrA, fmt.Sprint("unread ", i))
		}
		done := make(chan error, 1)
		go func() { done <- a.Shutdown() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Shutdown hangs")
		}
		shutDown = true
		if err := a.Shutdown(); err != nil {
			t.Fatalf("second Shutdown: %v", err)
		}
	})
}
