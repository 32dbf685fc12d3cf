package nettest

import (
	"net"
	"strconv"
	"testing"
)

func TestFreePortIsFreeEverywhere(t *testing.T) {
	ips := []string{"127.0.0.1", "127.0.0.2"}
	port := FreePort(t, ips...)
	for _, ip := range ips {
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("tcp %s: %v", addr, err)
		}
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatalf("udp %s: %v", addr, err)
		}
		_ = ln.Close()
		_ = pc.Close()
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = taken.Close() }()
	if portFree(taken.Addr().(*net.TCPAddr).Port, ips) {
		t.Error("a port in use counted as free")
	}
}
