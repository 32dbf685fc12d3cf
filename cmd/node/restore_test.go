package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/yzma/yzma/node/client"
)

// TestRestoreWhileAllDownConverges is the restore of a backup with nobody
// to compare it with: an older copy of node c's data file is put back while
// every node is down, c starts alone and takes writes, then the others
// start. Every replica ends identical, with every acknowledged write: c's
// new writes reach the others (they use a new origin, not the dots of
// writes the copy lacks) and c gets back the writes its copy lacked.
func TestRestoreWhileAllDownConverges(t *testing.T) {
	dir := t.TempDir()
	names := []string{"a", "b", "c"}
	ports := map[string]int{}
	for _, n := range names {
		ports[n] = freePort(t)
	}
	gossip := func(n string) string { return fmt.Sprint("127.0.0.1:", ports[n]) }
	db := func(n string) string { return filepath.Join(dir, n+".db") }
	start := func(n string, seeds ...string) (*proc, *client.Client) {
		var addrs []string
		for _, s := range seeds {
			addrs = append(addrs, gossip(s))
		}
		p := startNode(t, db(n), "YZMA_PEERING_NAME="+n, fmt.Sprint("YZMA_PEERING_BIND_PORT=", ports[n]),
			"YZMA_PEERING_JOIN="+strings.Join(addrs, ","))
		c := newClient(t, p.url)
		waitFor(t, n+" ready", 30*time.Second, func() bool { return c.Readyz(t.Context()) == nil })
		return p, c
	}
	stop := func(p *proc) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t, 30*time.Second); code != 0 {
			t.Fatalf("node exited %d", code)
		}
	}
	acked := map[string]string{} // key → the value of its last acknowledged write
	put := func(c *client.Client, key, val string) {
		t.Helper()
		if _, err := c.Put(t.Context(), key, []byte(val), "text/plain"); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		acked[key] = val
	}
	converge := func(cs ...*client.Client) {
		t.Helper()
		waitFor(t, "identical digests", 60*time.Second, func() bool {
			var first string
			for i, c := range cs {
				d, err := c.Digest(t.Context())
				if err != nil || i > 0 && d.Digest != first {
					return false
				}
				first = d.Digest
			}
			return true
		})
		for _, c := range cs {
			for k, want := range acked {
				if v, err := c.Get(t.Context(), k); err != nil || string(v.Data) != want {
					t.Fatalf("%s = %q (%v), want %q", k, v.Data, err, want)
				}
			}
		}
	}

	pa, ca := start("a")
	pb, cb := start("b", "a")
	pc, cc := start("c", "a")
	for i := range 30 {
		put([]*client.Client{ca, cb, cc}[i%3], fmt.Sprint("k", i), "v1")
	}
	converge(ca, cb, cc)
	stop(pc)
	copyTestFile(t, db("c"), db("c")+".backup")
	pc, cc = start("c", "a")
	for i := range 10 { // writes the backup lacks, some made on c itself
		put([]*client.Client{ca, cc}[i%2], fmt.Sprint("k", i), "v2")
	}
	converge(ca, cb, cc)
	for _, p := range []*proc{pa, pb, pc} {
		stop(p)
	}

	copyTestFile(t, db("c")+".backup", db("c")) // the restore
	_, cc = start("c")                          // alone: no one to compare with
	for i := 25; i < 35; i++ {
		put(cc, fmt.Sprint("k", i), "after restore")
	}
	_, ca = start("a", "c")
	_, cb = start("b", "c")
	converge(ca, cb, cc)
}

func copyTestFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
