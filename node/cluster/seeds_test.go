package cluster

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/nettest"
)

// viaDNS makes a member find its seeds only through name on d, gossiping on
// port as every member found by DNS does.
func viaDNS(d *testDNS, name string, port int) func(*Config) {
	return func(c *Config) {
		c.Seeds, c.SeedDNS, c.Resolver, c.BindPort = nil, name, DNSResolver(d.addr), port
		c.JoinTimeout = time.Second // the first member finds no one
	}
}

// allSeeEachOther reports whether every node sees every other alive.
func allSeeEachOther(nodes ...*testNode) bool {
	for _, tn := range nodes {
		if len(tn.c.alivePeers()) != len(nodes)-1 {
			return false
		}
	}
	return true
}

func loopbackIPs(first, n int) []string {
	ips := make([]string, n)
	for i := range ips {
		ips[i] = fmt.Sprint("127.0.0.", first+i)
	}
	return ips
}

func TestSeedDNSFormsOneCluster(t *testing.T) {
	d := newTestDNS(t)
	const name = "yzma-headless.test.svc"
	ips := loopbackIPs(40, 3)
	d.set(name, ips...)
	port := nettest.FreePort(t, ips...)
	net := newTestNet(t)
	dir := t.TempDir()
	var nodes []*testNode
	for i := range ips {
		nodes = append(nodes, net.startNodeWith(fmt.Sprint("yzma-", i), 40+i, filepath.Join(dir, fmt.Sprint(i, ".db")), viaDNS(d, name, port)))
	}
	waitFor(t, 10*time.Second, "one cluster of three", func() bool { return allSeeEachOther(nodes...) })
	for i, tn := range nodes {
		put(t, tn, fmt.Sprint("from-", i), "v")
	}
	waitFor(t, 10*time.Second, "convergence", func() bool { return converged(t, nodes) })
	if d.queried(name) < len(nodes) {
		t.Fatalf("the DNS server answered %d lookups of %s; want one per member at least", d.queried(name), name)
	}
}

func TestSeedDNSListingOnlySelfStartsAlone(t *testing.T) {
	d := newTestDNS(t)
	const name = "solo.test.svc"
	ip := loopbackIPs(43, 1)
	d.set(name, ip...)
	start := time.Now()
	tn := newTestNet(t).startNodeWith("solo", 43, filepath.Join(t.TempDir(), "solo.db"), viaDNS(d, name, nettest.FreePort(t, ip...)),
		func(c *Config) { c.JoinTimeout = 30 * time.Second })
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("Join took %v: it waited for seeds instead of starting alone", took)
	}
	if !tn.c.Ready() || len(tn.c.alivePeers()) != 0 {
		t.Fatalf("ready %v with %d peers; want ready and alone", tn.c.Ready(), len(tn.c.alivePeers()))
	}
	if d.queried(name) == 0 {
		t.Fatal("the DNS server was never asked: the member did not use it")
	}
}

// TestSeedHostNamesUseResolver gives a member static seeds by host name:
// they are resolved through the configured DNS server, and a name that does
// not resolve (a pod that does not exist yet) is skipped.
func TestSeedHostNamesUseResolver(t *testing.T) {
	d := newTestDNS(t)
	ips := loopbackIPs(44, 2)
	port := nettest.FreePort(t, ips...)
	d.set("yzma-0.yzma.test", ips[0])
	d.set("yzma-1.yzma.test", ips[1])
	byName := func(c *Config) {
		c.Resolver, c.BindPort = DNSResolver(d.addr), port
		c.Seeds = []string{fmt.Sprint("yzma-0.yzma.test:", port), fmt.Sprint("yzma-1.yzma.test:", port), fmt.Sprint("yzma-2.yzma.test:", port)}
	}
	net := newTestNet(t)
	dir := t.TempDir()
	a := net.startNodeWith("yzma-0", 44, filepath.Join(dir, "0.db"), byName, func(c *Config) { c.JoinTimeout = time.Second })
	b := net.startNodeWith("yzma-1", 45, filepath.Join(dir, "1.db"), byName)
	waitFor(t, 10*time.Second, "both members see each other", func() bool { return allSeeEachOther(a, b) })
	if got := b.c.seeds(t.Context(), b.c.gossip(), nil); len(got) != 1 || got[0] != a.gossip() {
		t.Fatalf("seeds of yzma-1 = %v, want only %s (itself and the missing yzma-2 dropped)", got, a.gossip())
	}
}

// TestReseedingMergesSplitStart starts two members that each find only
// themselves in DNS, as pods started at the same moment do, and take writes
// apart; once DNS lists both, re-seeding makes them one cluster and their
// data converges.
func TestReseedingMergesSplitStart(t *testing.T) {
	d := newTestDNS(t)
	ips := loopbackIPs(46, 2)
	port := nettest.FreePort(t, ips...)
	names := []string{"a.split.test", "b.split.test"}
	net := newTestNet(t)
	dir := t.TempDir()
	var nodes []*testNode
	for i, ip := range ips {
		d.set(names[i], ip)
		nodes = append(nodes, net.startNodeWith(fmt.Sprint("split-", i), 46+i, filepath.Join(dir, fmt.Sprint(i, ".db")),
			viaDNS(d, names[i], port), func(c *Config) { c.ReseedInterval = 100 * time.Millisecond }))
	}
	a, b := nodes[0], nodes[1]
	for i := range 20 {
		put(t, a, fmt.Sprint("a-", i), "from a")
		put(t, b, fmt.Sprint("b-", i), "from b")
	}
	put(t, a, "both", "a")
	put(t, b, "both", "b")
	// Re-seeding rounds come and go while DNS names only the member itself.
	waitFor(t, 5*time.Second, "a few lookups by each member", func() bool {
		return d.queried(names[0]) >= 5 && d.queried(names[1]) >= 5
	})
	if len(a.c.alivePeers()) != 0 || len(b.c.alivePeers()) != 0 {
		t.Fatal("the members found each other before DNS listed both")
	}

	for _, name := range names {
		d.set(name, ips...)
	}
	waitFor(t, 10*time.Second, "one cluster", func() bool { return allSeeEachOther(a, b) })
	waitFor(t, 10*time.Second, "convergence", func() bool { return converged(t, nodes) })
	for _, tn := range nodes {
		if v, _ := get(t, tn, "a-7"); v != "from a" {
			t.Fatalf("%s: a-7 = %q", tn.name, v)
		}
		if v, _ := get(t, tn, "b-7"); v != "from b" {
			t.Fatalf("%s: b-7 = %q", tn.name, v)
		}
		if _, n := get(t, tn, "both"); n != 2 {
			t.Fatalf("%s: the key written apart on both has %d versions, want 2 siblings", tn.name, n)
		}
	}
}
