package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/nettest"
	"github.com/yzma/yzma/node/client"
)

// TestLeaveOverHTTPKeepsEveryWrite runs two node processes, writes on the
// second, leaves it through POST /cluster/leave, kills it and deletes its
// data file: the first still has every write.
func TestLeaveOverHTTPKeepsEveryWrite(t *testing.T) {
	dir := t.TempDir()
	seedPort := freePort(t)
	a := startNode(t, filepath.Join(dir, "a.db"), "YZMA_PEERING_NAME=a", fmt.Sprint("YZMA_PEERING_BIND_PORT=", seedPort))
	bPath := filepath.Join(dir, "b.db")
	b := startNode(t, bPath, "YZMA_PEERING_NAME=b", fmt.Sprint("YZMA_PEERING_JOIN=127.0.0.1:", seedPort))
	ca, cb := newClient(t, a.url), newClient(t, b.url)
	ctx := t.Context()
	waitFor(t, "b is ready and sees a", 15*time.Second, func() bool {
		ms, err := cb.Members(ctx)
		return cb.Readyz(ctx) == nil && err == nil && len(ms) == 2
	})
	for i := range 100 {
		if _, err := cb.Put(ctx, fmt.Sprint("k", i), []byte("v"), "text/plain"); err != nil {
			t.Fatal(err)
		}
	}
	res, err := cb.Leave(ctx)
	if err != nil {
		t.Fatalf("leave: %v", err)
	}
	if len(res.Peers) != 1 || res.Peers["a"] == nil {
		t.Fatalf("handed off to %v, want a", res.Peers)
	}
	var apiErr *client.APIError
	if _, err := cb.Put(ctx, "late", []byte("v"), ""); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("write after leave: %v, want 503", err)
	}
	if _, err := cb.Leave(ctx); err != nil {
		t.Fatalf("second leave: %v, want 200 again", err)
	}
	// Not ready any more, so a Service stops sending it clients; reads go on.
	if err := cb.Readyz(ctx); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz after leave: %v, want 503", err)
	}
	if v, err := cb.Get(ctx, "k0"); err != nil || string(v.Data) != "v" {
		t.Fatalf("read after leave: %q, %v", v.Data, err)
	}
	_ = b.cmd.Process.Kill()
	<-b.exited
	if err := os.Remove(bPath); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if v, err := ca.Get(ctx, fmt.Sprint("k", i)); err != nil || string(v.Data) != "v" {
			t.Fatalf("k%d on the survivor: %q, %v", i, v.Data, err)
		}
	}
	waitFor(t, "a sees b as left", 15*time.Second, func() bool {
		ms, err := ca.Members(ctx)
		for _, m := range ms {
			if m.Name == "b" {
				return err == nil && m.State == "left"
			}
		}
		return false
	})
}

// TestBindHostSharesOneNetwork runs two nodes the way a process kubelet runs
// two pods of one StatefulSet on one host: the same configuration, with
// addresses that leave the host unspecified (":port", 0.0.0.0) and the same
// ports, and each its own loopback IP in YZMA_BIND_HOST. Both start, bind
// and advertise their own IP, and form one cluster (with encrypted gossip).
func TestBindHostSharesOneNetwork(t *testing.T) {
	ips := []string{"127.0.0.61", "127.0.0.62"}
	apiPort, gossipPort := nettest.FreePort(t, ips...), nettest.FreePort(t, ips...)
	dir := t.TempDir()
	podEnv := func(i int) []string {
		return []string{
			fmt.Sprint("YZMA_PEERING_NAME=pod-", i),
			fmt.Sprint("YZMA_API_BIND=:", apiPort),
			"YZMA_PEERING_BIND_ADDR=0.0.0.0",
			fmt.Sprint("YZMA_PEERING_BIND_PORT=", gossipPort),
			fmt.Sprint("YZMA_PEERING_JOIN=", ips[0], ":", gossipPort), // pod-0 finds only itself
			"YZMA_BIND_HOST=" + ips[i],
			"YZMA_GOSSIP_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", // gossip is encrypted
		}
	}
	var clients []*client.Client
	for i, ip := range ips {
		p := startNode(t, filepath.Join(dir, fmt.Sprint(i, ".db")), podEnv(i)...)
		if want := fmt.Sprintf("http://%s:%d", ip, apiPort); p.url != want {
			t.Fatalf("pod-%d serves on %s, want %s", i, p.url, want)
		}
		clients = append(clients, newClient(t, p.url))
	}
	ctx := t.Context()
	want := map[string][2]string{} // name → gossip and API address
	for i, ip := range ips {
		want[fmt.Sprint("pod-", i)] = [2]string{fmt.Sprintf("%s:%d", ip, gossipPort), fmt.Sprintf("%s:%d", ip, apiPort)}
	}
	for i, c := range clients {
		waitFor(t, fmt.Sprintf("pod-%d ready and seeing both pods alive at their own IP", i), 15*time.Second, func() bool {
			ms, err := c.Members(ctx)
			if err != nil || c.Readyz(ctx) != nil || len(ms) != len(want) {
				return false
			}
			for _, m := range ms {
				if w := want[m.Name]; m.State != "alive" || m.Addr != w[0] || m.API != w[1] {
					return false
				}
			}
			return true
		})
	}
	if _, err := clients[1].Put(ctx, "k", []byte("from pod-1"), "text/plain"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod-0 to have pod-1's write", 10*time.Second, func() bool {
		v, err := clients[0].Get(ctx, "k")
		return err == nil && string(v.Data) == "from pod-1"
	})
}
