package client_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/yzma/yzma/internal/testwait"
	"github.com/yzma/yzma/node"
	"github.com/yzma/yzma/node/client"
	"github.com/yzma/yzma/node/cluster"
	"github.com/yzma/yzma/node/httpapi"
)

// serveMember starts a clustered node joining seeds and returns a client
// for it and its gossip address.
func serveMember(t *testing.T, name string, seeds ...string) (*client.Client, string) {
	t.Helper()
	n, h := newAPI(t, node.Options{DBPath: filepath.Join(t.TempDir(), name+".db"), Cluster: &cluster.Config{
		Name: name, BindAddr: "127.0.0.1", Seeds: seeds, Memberlist: memberlist.DefaultLocalConfig, JoinTimeout: 5 * time.Second,
	}}, httpapi.Options{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if err := n.SetAPIAddr(strings.TrimPrefix(srv.URL, "http://")); err != nil {
		t.Fatal(err)
	}
	if err := n.Join(ctx(t)); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := c.Members(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return c, ms[0].Addr
}

// serveCluster starts a cluster of members with these names, the first
// one the others' seed, and returns their clients in that order.
func serveCluster(t *testing.T, names ...string) []*client.Client {
	t.Helper()
	first, gossip := serveMember(t, names[0])
	nodes := []*client.Client{first}
	for _, name := range names[1:] {
		c, _ := serveMember(t, name, gossip)
		nodes = append(nodes, c)
	}
	return nodes
}

// TestLeaveAndRejoin: a node that left refuses a join with peers and
// rejoins through Rejoin.
func TestLeaveAndRejoin(t *testing.T) {
	a, gossip := serveMember(t, "a")
	b, _ := serveMember(t, "b", gossip)
	testwait.For(t, "a sees b", 10*time.Second, 10*time.Millisecond, func() bool {
		ms, err := a.Members(ctx(t))
		return err == nil && len(ms) == 2 && ms[1].State == "alive"
	})
	res, err := b.Leave(ctx(t))
	if err != nil || res.Peers["a"] == nil {
		t.Fatalf("leave: %+v, %v; want a hand-off to a", res, err)
	}
	wantAPIError(t, b.Readyz(ctx(t)), http.StatusServiceUnavailable, "left")
	wantAPIError(t, b.Join(ctx(t), []string{gossip}), http.StatusConflict, "rejoin")
	if err := b.Rejoin(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := b.Readyz(ctx(t)); err != nil {
		t.Fatalf("readyz after Rejoin: %v", err)
	}
	if err := b.Rejoin(ctx(t)); err != nil {
		t.Fatalf("Rejoin on a member: %v", err)
	}
}
