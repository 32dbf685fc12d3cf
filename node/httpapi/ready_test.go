package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/yzma/yzma/node"
	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/cluster"
	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/httpapi"
)

// gatedTransport is the HTTP data channel holding every call until the test
// releases it; entered is closed when the first call arrives.
type gatedTransport struct {
	cluster.HTTPTransport
	enterOnce sync.Once
	entered   chan struct{}
	release   chan struct{}
}

func newGatedTransport() *gatedTransport {
	return &gatedTransport{entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedTransport) hold(ctx context.Context) error {
	g.enterOnce.Do(func() { close(g.entered) })
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gatedTransport) VersionVector(ctx context.Context, ep cluster.Endpoint) (crdt.VersionVector, error) {
	if err := g.hold(ctx); err != nil {
		return nil, err
	}
	return g.HTTPTransport.VersionVector(ctx, ep)
}

func (g *gatedTransport) Push(ctx context.Context, ep cluster.Endpoint, ops []crdt.Op) (crdt.VersionVector, error) {
	if err := g.hold(ctx); err != nil {
		return nil, err
	}
	return g.HTTPTransport.Push(ctx, ep, ops)
}

func (g *gatedTransport) Pull(ctx context.Context, ep cluster.Endpoint, origin crdt.NodeID, after uint64, limit, maxBytes int) ([]crdt.Op, error) {
	if err := g.hold(ctx); err != nil {
		return nil, err
	}
	return g.HTTPTransport.Pull(ctx, ep, origin, after, limit, maxBytes)
}

func (g *gatedTransport) Snapshot(ctx context.Context, ep cluster.Endpoint) (io.ReadCloser, error) {
	if err := g.hold(ctx); err != nil {
		return nil, err
	}
	return g.HTTPTransport.Snapshot(ctx, ep)
}

// memberNode is a clustered node gossiping on 127.0.0.1, its API (and the
// data channel under it) served on a real listener.
type memberNode struct {
	node   *node.Node
	url    string
	gossip string
	stop   func() // stops serving and closes the node; also run at cleanup
}

// startMember opens member name joining seeds (not yet: call Join) with tr
// as its data channel (nil: plain HTTP).
func startMember(t *testing.T, name string, tr cluster.Transport, seeds ...string) *memberNode {
	t.Helper()
	return startMemberAt(t, name, filepath.Join(t.TempDir(), name+".db"), tr, seeds...)
}

// startMemberAt is startMember with its data in dbPath.
func startMemberAt(t *testing.T, name, dbPath string, tr cluster.Transport, seeds ...string) *memberNode {
	t.Helper()
	reg := prometheus.NewRegistry()
	n, err := node.Open(node.Options{DBPath: dbPath, Registerer: reg, Cluster: &cluster.Config{
		Name: name, BindAddr: "127.0.0.1", Seeds: seeds, Transport: tr,
		Memberlist:  memberlist.DefaultLocalConfig,
		JoinTimeout: 5 * time.Second,
	}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(n, httpapi.Options{Registerer: reg, Gatherer: reg})
	if err != nil {
		_ = n.Close()
		t.Fatal(err)
	}
	srv, err := httpapi.Listen("127.0.0.1:0", h, httpapi.ServeOptions{})
	if err != nil {
		_ = n.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = srv.Shutdown(context.Background())
			if err := <-served; err != nil {
				t.Error(err)
			}
			if err := n.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	if err := n.SetAPIAddr(srv.Addr().String()); err != nil {
		t.Fatal(err)
	}
	m := &memberNode{node: n, url: srv.URL(), stop: stop}
	ms, err := n.Members()
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range ms {
		if mb.Name == name {
			m.gossip = mb.Addr
		}
	}
	return m
}

// readyz answers GET /readyz: the status and the envelope's error.
func readyz(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env api.Envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, env.Error
}

// TestReadyzWhileCatchingUp joins a node to a member holding data while its
// data channel is held: /readyz answers 503 for as long as the catch-up
// cannot finish, then 200, and by then the node holds every key.
func TestReadyzWhileCatchingUp(t *testing.T) {
	const keys = 2000
	ctx := t.Context()
	seed := startMember(t, "seed", nil)
	if err := seed.node.Join(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < keys; i += 8 {
				if _, err := seed.node.Put(ctx, fmt.Appendf(nil, "key-%d", i), []byte("v"), "", nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	gate := newGatedTransport()
	joiner := startMember(t, "joiner", gate, seed.gossip)
	joined := make(chan error, 1)
	go func() { joined <- joiner.node.Join(ctx) }()
	select {
	case <-gate.entered:
	case err := <-joined:
		t.Fatalf("Join returned (%v) without using the data channel", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the joiner never reached for the data channel")
	}
	unready := 0
	for range 3 { // held: the catch-up cannot finish, however often asked
		code, msg := readyz(t, joiner.url)
		if code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz during catch-up: %d %q, want 503", code, msg)
		}
		if msg != node.ErrNotReady.Error() {
			t.Fatalf("/readyz during catch-up says %q, want %q", msg, node.ErrNotReady)
		}
		unready++
	}
	// Writes wait for the catch-up too: a write supersedes what the node
	// holds of its key, and it does not hold everything yet.
	req, _ := http.NewRequest(http.MethodPut, joiner.url+"/keys/key-1", strings.NewReader("too early"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("write during catch-up: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	close(gate.release)
	waitFor(t, "/readyz to answer 200", 10*time.Second, func() bool {
		code, _ := readyz(t, joiner.url)
		if code == http.StatusServiceUnavailable {
			unready++
		}
		return code == http.StatusOK
	})
	st, err := joiner.node.Store().Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Keys != keys {
		t.Fatalf("ready with %d of %d keys", st.Keys, keys)
	}
	if err := <-joined; err != nil {
		t.Fatalf("Join: %v", err)
	}
	t.Logf("/readyz answered 503 %d times, then 200", unready)
}
