package cluster

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/syncbuf"
	"github.com/yzma/yzma/node/creds"
	"github.com/yzma/yzma/node/store"
)

// logSink collects a member's log for the test to read.
type logSink struct{ syncbuf.Buffer }

func (l *logSink) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func withGossipKey(key []byte) func(*Config) { return func(c *Config) { c.GossipKeys = keysOf(key) } }

// keysOf is a source of the one gossip key key; none for an empty key.
func keysOf(key []byte) *creds.File[[][]byte] {
	if len(key) == 0 {
		return nil
	}
	return creds.Static([][]byte{key})
}

func withSeeds(seeds ...string) func(*Config) { return func(c *Config) { c.Seeds = seeds } }

// memberNames lists the members tn sees.
func memberNames(tn *testNode) []string {
	var out []string
	for _, m := range tn.c.Members() {
		out = append(out, m.Name)
	}
	return out
}

func TestGossipKeySizes(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		wantErr string
	}{
		{"no encryption", 0, ""},
		{"AES-128", 16, ""},
		{"AES-192", 24, ""},
		{"AES-256", 32, ""},
		{"too short", 5, "gossip key is 5 bytes; want 16, 24 or 32"},
		{"too long", 33, "gossip key is 33 bytes"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := bytes.Repeat([]byte{byte(i)}, tt.size)
			dir := t.TempDir()
			if tt.wantErr != "" {
				st, err := store.Open(filepath.Join(dir, "bad.db"), store.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer func() {
					if err := st.Close(); err != nil {
						t.Error(err)
					}
				}()
				c, err := New(Config{Name: "bad-key", BindAddr: "127.0.0.1", GossipKeys: keysOf(key)}, st)
				if err == nil {
					_ = c.Close()
					t.Fatal("New accepted the key")
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q does not say %q", err, tt.wantErr)
				}
				return
			}
			net := newTestNet(t)
			a := net.startNodeWith("a", 50, filepath.Join(dir, "a.db"), withGossipKey(key))
			b := net.startNodeWith("b", 51, filepath.Join(dir, "b.db"), withGossipKey(key), withSeeds(a.gossip()))
			waitFor(t, 10*time.Second, "one cluster", func() bool { return allSeeEachOther(a, b) })
			put(t, a, "k", "v")
			waitFor(t, 10*time.Second, "replication", func() bool { return converged(t, []*testNode{a, b}) })
		})
	}
}

// TestGossipKeyKeepsStrangersOut: members sharing a key form a cluster and
// replicate; a member with another key, or none, cannot join them. Its Join
// finds no seed that answers and it starts alone, and the others never list
// it.
func TestGossipKeyKeepsStrangersOut(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	net := newTestNet(t)
	dir := t.TempDir()
	a := net.startNodeWith("keyed-a", 52, filepath.Join(dir, "a.db"), withGossipKey(key))
	b := net.startNodeWith("keyed-b", 53, filepath.Join(dir, "b.db"), withGossipKey(key), withSeeds(a.gossip()))
	waitFor(t, 10*time.Second, "one cluster", func() bool { return allSeeEachOther(a, b) })

	strangers := []struct {
		name string
		key  []byte
	}{
		{"another key", bytes.Repeat([]byte{2}, 32)},
		{"no key", nil},
	}
	for i, s := range strangers {
		t.Run(s.name, func(t *testing.T) {
			var logs logSink
			name := fmt.Sprint("stranger-", i)
			stranger := net.startNodeWith(name, 54+i, filepath.Join(dir, name+".db"), withGossipKey(s.key),
				withSeeds(a.gossip(), b.gossip()), func(c *Config) {
					c.JoinTimeout = 1500 * time.Millisecond // several attempts
					c.Logger = logs.logger()
				})
			if !strings.Contains(logs.String(), "no seed answered: starting alone") {
				t.Fatalf("the stranger's Join did not report that no seed answered:\n%s", logs.String())
			}
			if !stranger.c.Ready() || len(stranger.c.alivePeers()) != 0 {
				t.Fatalf("stranger ready %v with %d peers; want ready and alone", stranger.c.Ready(), len(stranger.c.alivePeers()))
			}
			key := fmt.Sprint("while-", name, "-was-around")
			put(t, b, key, "v")
			waitFor(t, 10*time.Second, "the keyed members replicate", func() bool { return converged(t, []*testNode{a, b}) })
			for _, tn := range []*testNode{a, b} {
				if names := memberNames(tn); slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "stranger") }) || len(names) != 2 {
					t.Fatalf("%s lists %v; want keyed-a and keyed-b only", tn.name, names)
				}
			}
			if v, _ := get(t, stranger, key); v != "<absent>" {
				t.Fatalf("the stranger got data: %s = %q", key, v)
			}
		})
	}
}
