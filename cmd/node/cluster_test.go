package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

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
