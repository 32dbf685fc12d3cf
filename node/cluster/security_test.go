package cluster

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/hashicorp/memberlist"

	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/creds"
	"github.com/yzma/yzma/node/store"
)

// forgedNext is the operation a forger would send to make every replica
// skip tn's next real write: tn's next dot, with another value.
func forgedNext(tn *testNode) crdt.Op {
	origin := tn.st.Origin()
	return crdt.Op{Key: []byte("forged"), Dot: crdt.Dot{Node: origin, Counter: tn.st.VersionVector()[origin] + 1},
		Value: []byte("not written by " + tn.name)}
}

// fakePeer serves a forger's data channel: vv as its version vector, ops
// to any pull, snapshot as its snapshot stream.
func fakePeer(t *testing.T, vv crdt.VersionVector, ops []crdt.Op, snapshot []byte) *peer {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathVV, func(w http.ResponseWriter, r *http.Request) { writeCBOR(w, vv) })
	mux.HandleFunc("GET "+PathOps, func(w http.ResponseWriter, r *http.Request) { writeCBOR(w, ops) })
	mux.HandleFunc("GET "+PathSnapshot, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(snapshot) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &peer{name: "forger", ep: Endpoint{Addr: srv.Listener.Addr().String()}}
}

// TestForgedClaimsAreRejected: b's next counter, claimed by anyone but b,
// in a push, a pull or a snapshot's vector, is refused; a's vector stays
// as it was, and b's real next write still reaches a.
func TestForgedClaimsAreRejected(t *testing.T) {
	tnet := newTestNet(t)
	nodes := tnet.startCluster(2)
	a, b := nodes[0], nodes[1]
	put(t, b, "real", "1")
	waitFor(t, 10*time.Second, "a has b's write", func() bool { return converged(t, nodes) })
	before := a.st.VersionVector()
	forged := forgedNext(b)

	t.Run("push", func(t *testing.T) {
		body, err := cbor.Marshal([]crdt.Op{forged})
		if err != nil {
			t.Fatal(err)
		}
		// From 127.0.0.1, which is not b's address.
		resp, err := http.Post("http://"+a.api+PathOps, "application/cbor", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("forged push answered %s, want 400", resp.Status)
		}
	})
	t.Run("pull within the sender's vector", func(t *testing.T) {
		claims := before.Clone()
		claims[forged.Dot.Node] = forged.Dot.Counter
		err := a.c.pullFrom(t.Context(), fakePeer(t, claims, []crdt.Op{forged}, nil))
		if !errors.Is(err, ErrForged) {
			t.Fatalf("pull of forged ops: %v, want ErrForged", err)
		}
	})
	t.Run("pull beyond the sender's vector", func(t *testing.T) {
		origin := b.st.Origin()
		have := b.st.VersionVector()[origin]
		real, err := b.st.OpsSince(origin, have-1, 1, 1<<20)
		if err != nil || len(real) != 1 {
			t.Fatalf("b's last op: %v, %v", real, err)
		}
		// The sender's own vector says it holds up to have: forged, one
		// beyond, is cut off behind a real op and refused alone.
		ops, err := a.c.checkPulled(t.Context(), &peer{name: "forger"}, origin, have-1, have, []crdt.Op{real[0], forged})
		if err != nil || len(ops) != 1 || ops[0].Dot != real[0].Dot {
			t.Fatalf("ops beyond the sender's vector: kept %v, %v; want only the real one", ops, err)
		}
		if _, err := a.c.checkPulled(t.Context(), &peer{name: "forger"}, origin, have, have, []crdt.Op{forged}); !errors.Is(err, ErrForged) {
			t.Fatalf("only ops beyond the sender's vector: %v, want ErrForged", err)
		}
	})
	t.Run("snapshot vector", func(t *testing.T) {
		claims := before.Clone()
		claims[forged.Dot.Node] += 1000
		var snap bytes.Buffer
		if err := cbor.NewEncoder(&snap).Encode(map[int]crdt.VersionVector{1: claims}); err != nil {
			t.Fatal(err)
		}
		err := a.c.snapshotFrom(t.Context(), fakePeer(t, claims, nil, snap.Bytes()), "test")
		if !errors.Is(err, ErrForged) || !errors.Is(err, store.ErrBadSnapshot) {
			t.Fatalf("snapshot with a forged vector: %v, want ErrForged in ErrBadSnapshot", err)
		}
	})

	if after := a.st.VersionVector(); !after.Equal(before) {
		t.Fatalf("a's vector moved from %v to %v", before, after)
	}
	put(t, b, "real", "2")
	waitFor(t, 10*time.Second, "b's next real write reaches a", func() bool { v, _ := get(t, a, "real"); return v == "2" })
	if v, n := get(t, a, "forged"); n != 0 {
		t.Fatalf("a holds the forged key: %q", v)
	}
}

// TestForeignGossipKeyNeverGetsThePeerSecret: a member with another
// gossip key cannot join, so nobody ever calls the API address it
// advertises; one with the cluster's key (the control) is called at once,
// with the peer secret.
func TestForeignGossipKeyNeverGetsThePeerSecret(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	tnet := newTestNet(t)
	secured := func(k []byte) func(*Config) {
		return func(c *Config) {
			c.GossipKeys = creds.Static([][]byte{k})
			c.Transport.(cutTransport).Transport.(*HTTPTransport).Peer = creds.Static(creds.SecretsOf("peer-secret"))
		}
	}
	nodes := tnet.startCluster(2, secured(key))
	for _, s := range []struct {
		name     string
		key      []byte
		wantCall bool
	}{
		{"foreign key", bytes.Repeat([]byte{2}, 32), false},
		{"cluster key", key, true},
	} {
		t.Run(s.name, func(t *testing.T) {
			var calls atomic.Int32
			var auth atomic.Value
			rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				auth.Store(r.Header.Get("Authorization"))
				http.Error(w, "recorder", http.StatusServiceUnavailable)
			}))
			t.Cleanup(rec.Close)
			name := "stranger-" + s.name[:3]
			ip := 60
			if s.wantCall {
				ip = 61
			}
			tnet.startNodeWith(name, ip, filepath.Join(t.TempDir(), name+".db"), secured(s.key), func(c *Config) {
				c.APIAddr = rec.Listener.Addr().String()
				c.Seeds = []string{nodes[0].gossip()}
				c.JoinTimeout = time.Second
			})
			for i := range 5 {
				put(t, nodes[0], fmt.Sprint("k", i), "v") // pushes go to every member
			}
			if s.wantCall {
				waitFor(t, 10*time.Second, "the member is called", func() bool { return calls.Load() > 0 })
				if got := auth.Load(); got != "Bearer peer-secret" {
					t.Fatalf("called with Authorization %q", got)
				}
				return
			}
			deadline := time.Now().Add(3 * time.Second)
			for time.Now().Before(deadline) {
				if calls.Load() > 0 {
					t.Fatalf("the stranger's API was called (Authorization %q)", auth.Load())
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// TestGossipKeyRotation rotates the gossip key of a running cluster under
// writes, one member at a time, in the three steps of package creds (add
// the new key second, make it first, remove the old one): no member is
// ever seen suspect or dead, every write arrives everywhere, and a new
// member knowing only the new key joins.
func TestGossipKeyRotation(t *testing.T) {
	old, next := bytes.Repeat([]byte{3}, 32), bytes.Repeat([]byte{4}, 32)
	line := func(keys ...[]byte) string {
		var b bytes.Buffer
		for _, k := range keys {
			fmt.Fprintln(&b, encodeKey(k))
		}
		return b.String()
	}
	dir := t.TempDir()
	tnet := newTestNet(t)
	var files []string
	nodes := tnet.startCluster(3, func(c *Config) {
		f := filepath.Join(dir, c.Name+".keys")
		writeKeys(t, f, line(old))
		src, err := creds.NewFile(func(raw [][]byte) ([][]byte, error) { return creds.ParseGossipKeys(raw[0]) }, f)
		if err != nil {
			t.Fatal(err)
		}
		c.GossipKeys = src
		files = append(files, f)
	})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad atomic.Value
	wg.Add(2)
	go func() { // watch every member's view of every other
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, tn := range nodes {
				for _, m := range tn.c.gossip().ml.Members() {
					if m.State != memberlist.StateAlive {
						bad.Store(fmt.Sprintf("%s saw %s %v", tn.name, m.Name, m.State))
					}
				}
				if n := tn.c.gossip().ml.NumMembers(); n != len(nodes) {
					bad.Store(fmt.Sprintf("%s saw %d members", tn.name, n))
				}
			}
		}
	}()
	var written atomic.Int32
	go func() { // writes throughout, bounded in count
		defer wg.Done()
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			put(t, nodes[i%len(nodes)], fmt.Sprint("w", i), "v")
			written.Add(1)
		}
	}()

	for _, step := range []struct {
		name    string
		keys    string
		primary []byte
		count   int
	}{
		{"install the new key", line(old, next), old, 2},
		{"use the new key", line(next, old), next, 2},
		{"remove the old key", line(next), next, 1},
	} {
		// One member first, so members at both ends of the step talk.
		for _, group := range [][]int{{0}, {1, 2}} {
			for _, i := range group {
				writeKeys(t, files[i], step.keys)
			}
			waitFor(t, 15*time.Second, step.name, func() bool {
				for _, i := range group {
					keys := nodes[i].c.keyring.GetKeys()
					if len(keys) != step.count || !bytes.Equal(keys[0], step.primary) {
						return false
					}
				}
				return true
			})
			time.Sleep(500 * time.Millisecond) // gossip rounds across the mixed state
		}
	}
	close(stop)
	wg.Wait()
	if b := bad.Load(); b != nil {
		t.Fatalf("during the rotation %s", b)
	}
	if written.Load() == 0 {
		t.Fatal("no write during the rotation")
	}
	waitFor(t, 20*time.Second, "every write everywhere", func() bool { return converged(t, nodes) })

	late := tnet.startNodeWith("late", 40, filepath.Join(dir, "late.db"), withGossipKey(next), withSeeds(nodes[0].gossip()))
	waitFor(t, 10*time.Second, "a member with only the new key joins", func() bool {
		return len(late.c.alivePeers()) == len(nodes)
	})
}

func encodeKey(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

// writeKeys replaces a keys file as a Secret volume update does: a new
// file renamed over the old.
func writeKeys(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
