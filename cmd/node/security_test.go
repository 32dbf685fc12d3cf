package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/testpki"
	"github.com/yzma/yzma/node/client"
)

// TestSecuredClusterKeepsOutANodeWithoutThePeerCredential runs two nodes
// with everything on (TLS verified by name against the cluster CA, client
// tokens with roles, a peer secret, a gossip key file) and a third that
// has the gossip key and trusts the CA but holds no peer credential (its
// certificate is from another CA, it has no peer secret). The two
// replicate; the third is a gossip member but gets no data: its pulls are
// refused (its certificate fails the handshake), and nobody pushes to a
// server whose certificate the cluster CA does not prove.
func TestSecuredClusterKeepsOutANodeWithoutThePeerCredential(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokens := write("tokens", "rw admin\nro reader\n")
	peers := write("peers", "peer-secret\n")
	keys := write("keys", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n")
	ca := testpki.NewCA(t, "cluster CA")
	other := testpki.NewCA(t, "another CA")
	otherCA := write("other-ca.crt", string(other.PEM))

	gossipPort := freePort(t)
	env := func(name string, ip int, certs testpki.Files, caFile string, seeds ...string) []string {
		e := []string{
			"YZMA_PEERING_NAME=" + name,
			fmt.Sprintf("YZMA_API_BIND=127.0.0.%d:0", ip),
			fmt.Sprintf("YZMA_PEERING_BIND_ADDR=127.0.0.%d", ip),
			fmt.Sprint("YZMA_PEERING_BIND_PORT=", gossipPort),
			"YZMA_TLS_CERT_FILE=" + certs.Cert, "YZMA_TLS_KEY_FILE=" + certs.Key, "YZMA_TLS_CA_FILE=" + caFile,
			"YZMA_API_ADVERTISE_NAME=" + name + ".peers.test",
			"YZMA_AUTH_TOKEN_FILE=" + tokens,
			"YZMA_GOSSIP_KEY_FILE=" + keys,
			"YZMA_JOIN_TIMEOUT=2s",
		}
		if len(seeds) > 0 {
			e = append(e, "YZMA_PEERING_JOIN="+strings.Join(seeds, ","))
		}
		return e
	}
	certsFor := func(ca *testpki.CA, name string) testpki.Files {
		return ca.WriteFiles(t, filepath.Join(dir, name), name+".peers.test")
	}
	seed := fmt.Sprintf("127.0.0.71:%d", gossipPort)
	aCerts := certsFor(ca, "a")
	clusterCA := aCerts.CA
	a := startNode(t, filepath.Join(dir, "a.db"), append(env("a", 71, aCerts, clusterCA), "YZMA_PEER_TOKEN_FILE="+peers)...)
	b := startNode(t, filepath.Join(dir, "b.db"), append(env("b", 72, certsFor(ca, "b"), clusterCA, seed),
		"YZMA_PEER_TOKEN_FILE="+peers)...)
	// The intruder trusts the cluster CA (so it can verify a and b) but
	// its own certificate is another CA's, and it has no peer secret.
	c := startNode(t, filepath.Join(dir, "c.db"), env("c", 73, certsFor(other, "c"), clusterCA, seed)...)
	if !strings.HasPrefix(a.url, "https://") {
		t.Fatalf("a serves %s, want https", a.url)
	}
	ctx := t.Context()
	admin := map[string]*client.Client{"a": a.client(t, "admin"), "b": b.client(t, "admin")}
	waitFor(t, "a and b ready, a seeing all three members", 20*time.Second, func() bool {
		ms, err := admin["a"].Members(ctx)
		return err == nil && len(ms) == 3 && admin["a"].Readyz(ctx) == nil && admin["b"].Readyz(ctx) == nil
	})

	if _, err := a.client(t, "reader").Put(ctx, "k", []byte("v"), "text/plain"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("write with the read-only token: %v", err)
	}
	if _, err := admin["b"].Put(ctx, "k", []byte("from b"), "text/plain"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b's write on a, over mutual TLS", 10*time.Second, func() bool {
		v, err := a.client(t, "reader").Get(ctx, "k")
		return err == nil && string(v.Data) == "from b"
	})

	// c presents its certificate, which a cannot verify: the handshake
	// of each of its calls fails.
	waitFor(t, "a to refuse c's calls", 15*time.Second, func() bool {
		return strings.Contains(a.logs.String(), "TLS handshake error from 127.0.0.73") &&
			strings.Contains(a.logs.String(), "certificate signed by unknown authority")
	})
	c.env["YZMA_TLS_CA_FILE"] = otherCA // to read c, trust its certificate
	v, err := c.client(t, "admin").Get(ctx, "k")
	if err == nil {
		t.Fatalf("the node without the peer credential holds k = %q", v.Data)
	}
	if !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("reading c: %v", err)
	}
}
