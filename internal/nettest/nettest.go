// Package nettest holds network helpers shared by the tests of several
// packages.
package nettest

import (
	"io"
	"net"
	"strconv"
	"testing"
)

// FreePort returns a port free for both TCP and UDP on every one of ips
// (loopback addresses), as nodes that gossip on one shared port need.
func FreePort(t testing.TB, ips ...string) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if portFree(port, ips) {
			return port
		}
	}
	t.Fatalf("no port free on all of %v", ips)
	return 0
}

func portFree(port int, ips []string) bool {
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	for _, ip := range ips {
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		closers = append(closers, ln)
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		closers = append(closers, pc)
	}
	return true
}
