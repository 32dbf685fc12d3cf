package cluster

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// testDNS is a DNS server on 127.0.0.1 (UDP, a free port) answering A
// queries from a table the test changes as it goes; it counts the queries
// for each name.
type testDNS struct {
	addr string

	mu      sync.Mutex
	hosts   map[string][]string // canonical name → IPv4 addresses
	queries map[string]int
}

func newTestDNS(t testing.TB) *testDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &testDNS{addr: pc.LocalAddr().String(), hosts: map[string][]string{}, queries: map[string]int{}}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: d, NotifyStartedFunc: func() { close(started) }}
	served := make(chan error, 1)
	go func() { served <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-served:
		t.Fatalf("test DNS server: %v", err)
	}
	t.Cleanup(func() {
		_ = srv.Shutdown()
		if err := <-served; err != nil {
			t.Errorf("test DNS server: %v", err)
		}
	})
	return d
}

// set makes name resolve to ips (none: the name exists without records).
func (d *testDNS) set(name string, ips ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hosts[dns.CanonicalName(name)] = ips
}

// queried is how many questions about name the server answered.
func (d *testDNS) queried(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries[dns.CanonicalName(name)]
}

func (d *testDNS) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	// Go's resolver takes an answer that is neither authoritative nor
	// recursive for a lame referral.
	m.Authoritative, m.RecursionAvailable = true, true
	d.mu.Lock()
	for _, q := range r.Question {
		name := strings.ToLower(q.Name)
		ips, ok := d.hosts[name]
		if !ok {
			m.Rcode = dns.RcodeNameError
			continue
		}
		d.queries[name]++
		if q.Qtype != dns.TypeA {
			continue
		}
		for _, ip := range ips {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET},
				A:   net.ParseIP(ip),
			})
		}
	}
	d.mu.Unlock()
	_ = w.WriteMsg(m)
}
