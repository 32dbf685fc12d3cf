package cluster

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	stdnet "net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/hlc"
)

// BenchmarkReplicationLatency reports how long a write acknowledged on one
// node of a 3-node cluster takes to be applied on both others (p50, p99).
func BenchmarkReplicationLatency(b *testing.B) {
	net := newTestNet(b)
	nodes := net.startCluster(3)
	src := nodes[0]
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		op := put(b, src, fmt.Sprint("k", i%1000), "value")
		for _, tn := range nodes[1:] {
			deadline := start.Add(10 * time.Second)
			for tn.st.VersionVector()[op.Dot.Node] < op.Dot.Counter {
				if time.Now().After(deadline) {
					b.Fatalf("%s did not get %v within 10s", tn.name, op.Dot)
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkReplicationUnderLoad: writes at a sustained YZMA_BENCH_RATE per
// second (default 5,000; 100-byte values, random keys among 100,000) go to
// one node of three for YZMA_BENCH_SECONDS (default 5), from 64 writers
// paced by a clock; it reports, over every write, the time from its
// acknowledgement to its being applied on both other nodes (p50, p99,
// max; each follower's version vector is sampled every 100µs) and the
// rate achieved. make bench-replication runs it.
func BenchmarkReplicationUnderLoad(b *testing.B) {
	rate := envInt(b, "YZMA_BENCH_RATE", 5000)
	seconds := envInt(b, "YZMA_BENCH_SECONDS", 5)
	value := strings.Repeat("v", 100)
	var lat []time.Duration // over every run
	var elapsed time.Duration
	for range b.N {
		net := newTestNet(b)
		nodes := net.startCluster(3, func(c *Config) { // production's rounds, not the tests' quick ones
			c.AntiEntropyInterval, c.PruneInterval = 2*time.Second, 30*time.Second
		})
		src := nodes[0]
		origin := src.st.Origin()
		total := rate * seconds
		acked := make([]time.Time, total+1) // by counter
		applied := [2][]time.Time{make([]time.Time, total+1), make([]time.Time, total+1)}
		done := make(chan struct{})
		var watchers sync.WaitGroup
		for f, tn := range nodes[1:] {
			watchers.Go(func() {
				last := uint64(0)
				for last < uint64(total) {
					select {
					case <-done:
						return
					default:
					}
					if c := min(tn.st.VersionVector()[origin], uint64(total)); c > last {
						now := time.Now()
						for k := last + 1; k <= c; k++ {
							applied[f][k] = now
						}
						last = c
					}
					time.Sleep(100 * time.Microsecond)
				}
			})
		}
		jobs := make(chan struct{}, total)
		start := time.Now()
		go func() { // the pace: rate per second, a tick each millisecond
			defer close(jobs)
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for sent := 0; sent < total; {
				<-t.C
				due := min(total, int(time.Since(start)*time.Duration(rate)/time.Second))
				for ; sent < due; sent++ {
					jobs <- struct{}{}
				}
			}
		}()
		var writers sync.WaitGroup
		for w := range 64 {
			writers.Go(func() {
				rnd := rand.New(rand.NewPCG(uint64(w), 7))
				for range jobs {
					op := put(b, src, fmt.Sprint("key", rnd.IntN(100_000)), value)
					acked[op.Dot.Counter] = time.Now()
				}
			})
		}
		writers.Wait()
		elapsed += time.Since(start)
		waitFor(b, time.Minute, "both followers apply every write", func() bool {
			return nodes[1].st.VersionVector()[origin] >= uint64(total) && nodes[2].st.VersionVector()[origin] >= uint64(total)
		})
		close(done)
		watchers.Wait()
		for k := 1; k <= total; k++ {
			lat = append(lat, max(0, applied[0][k].Sub(acked[k]), applied[1][k].Sub(acked[k])))
		}
		for _, tn := range nodes {
			tn.stop()
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "writes/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// BenchmarkRestartAfterDowntime: one member of three holding
// YZMA_BENCH_KEYS keys (default 100,000, 100-byte values) is down for
// YZMA_BENCH_DOWN (default 90s) while writes go on, then restarts. It
// reports the bytes that reached it (pulled and pushed), the data set's
// size, their ratio and the snapshots it took (0: deltas only). It takes
// minutes, so it runs only with YZMA_BENCH_RESTART=1 (make bench-restart).
func BenchmarkRestartAfterDowntime(b *testing.B) {
	if os.Getenv("YZMA_BENCH_RESTART") == "" {
		b.Skip("set YZMA_BENCH_RESTART=1 (make bench-restart): it runs for minutes")
	}
	keys := envInt(b, "YZMA_BENCH_KEYS", 100_000)
	down := 90 * time.Second
	if v := os.Getenv("YZMA_BENCH_DOWN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		down = d
	}
	value := strings.Repeat("v", 100)
	for range b.N {
		net := newTestNet(b)
		nodes := net.startCluster(3)
		a, c := nodes[0], nodes[2]
		var wg sync.WaitGroup
		for w := range 32 {
			wg.Go(func() {
				for i := w; i < keys; i += 32 {
					put(b, nodes[i%3], fmt.Sprint("key-", i), value)
				}
			})
		}
		wg.Wait()
		waitFor(b, 5*time.Minute, "convergence", func() bool { return converged(b, nodes) })
		dataset, _ := a.st.Stats()
		c.stop()
		stopWrites := make(chan struct{})
		var written atomic.Int64
		wg.Go(func() { // writes go on, at a modest rate, while c is down and back
			for i := 0; ; i++ {
				select {
				case <-stopWrites:
					return
				case <-time.After(10 * time.Millisecond):
				}
				put(b, nodes[i%2], fmt.Sprint("during-", i), value)
				written.Add(1)
			}
		})
		time.Sleep(down) // the downtime being measured
		for _, tn := range nodes[:2] {
			if _, err := tn.c.Prune(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		c2 := net.startNode(c.name, 12, c.dbPath, a.gossip())
		nodes[2] = c2
		missed := written.Load()
		close(stopWrites)
		wg.Wait()
		waitFor(b, 5*time.Minute, "convergence after the restart", func() bool { return converged(b, nodes) })
		moved := testutil.ToFloat64(c2.c.metrics.pulledBytes) + testutil.ToFloat64(c2.c.metrics.bytesReceived)
		setBytes := float64(dataset.Keys) * float64(len(value)+len("key-100000"))
		b.ReportMetric(float64(missed), "missed-ops")
		b.ReportMetric(moved, "moved-bytes")
		b.ReportMetric(setBytes, "dataset-bytes")
		b.ReportMetric(moved/setBytes, "moved/dataset")
		b.ReportMetric(testutil.ToFloat64(c2.c.metrics.snapshots), "snapshots")
	}
}

func envInt(b *testing.B, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		return n
	}
	return def
}

// BenchmarkJoin: a blank node joins a node holding YZMA_BENCH_KEYS keys
// (default 1,000,000, 100-byte values) and catches up: the time until it
// is ready, and the bytes that crossed the wire to it (counted on its
// connections), with the data channel plain and compressed. Run one
// sub-benchmark per process (make bench-join does): a second join in the
// same process is slower for reasons of its own. Loading the keys takes a
// while, so it runs only with YZMA_BENCH_JOIN=1.
func BenchmarkJoin(b *testing.B) {
	if os.Getenv("YZMA_BENCH_JOIN") == "" {
		b.Skip("set YZMA_BENCH_JOIN=1 (make bench-join): it loads a million keys")
	}
	keys := envInt(b, "YZMA_BENCH_KEYS", 1_000_000)
	net := newTestNet(b)
	seed := net.startCluster(1)[0]
	loadKeys(b, seed, keys, 100)
	dir := b.TempDir()
	joiners := 0
	for _, mode := range []struct {
		name  string
		plain bool
	}{{"plain", true}, {"zstd", false}} {
		b.Run(mode.name, func(b *testing.B) {
			for range b.N {
				joinOnce(b, net, seed, dir, joiners, keys, mode.plain)
				joiners++
			}
		})
	}
}

// joinOnce starts the joiner number i, reports its time to ready and its
// bytes on the wire, and stops it.
func joinOnce(b *testing.B, net *testNet, seed *testNode, dir string, i, keys int, plain bool) {
	var wire atomic.Int64
	name := fmt.Sprint("joiner-", i)
	start := time.Now()
	j := net.startNodeWith(name, 30+i, filepath.Join(dir, name+".db"), func(c *Config) {
		c.Seeds = []string{seed.gossip()}
		c.JoinTimeout = time.Minute
		ht := c.Transport.(cutTransport).Transport.(*HTTPTransport)
		ht.DialWith, ht.NoCompression = countingDial(&wire), plain
	})
	ready := time.Since(start) // startNodeWith returns once Join has: caught up, ready
	b.StopTimer()
	defer b.StartTimer()
	defer j.stop()
	if got, _ := j.st.Stats(); got.Keys != int64(keys) {
		b.Fatalf("the joiner holds %d keys, want %d", got.Keys, keys)
	}
	b.ReportMetric(ready.Seconds(), "s-to-ready")
	b.ReportMetric(float64(wire.Load())/1e6, "MB-on-wire")
	b.ReportMetric(float64(wire.Load())/float64(keys*(100+len("key-0000000"))), "wire/dataset")
}

// loadKeys gives tn n keys of valueSize bytes (random hex digits, which
// compress about as well as text), as operations of another origin applied
// in large batches (much faster than n local writes).
func loadKeys(b testing.TB, tn *testNode, n, valueSize int) {
	b.Helper()
	origin := crdt.NodeID(0x5eed)
	rnd := rand.New(rand.NewPCG(1, 2))
	const batch = 10_000
	for start := 0; start < n; start += batch {
		ops := make([]crdt.Op, 0, batch)
		for i := start; i < min(start+batch, n); i++ {
			raw := make([]byte, (valueSize+1)/2)
			for k := range raw {
				raw[k] = byte(rnd.Uint32())
			}
			value := []byte(hex.EncodeToString(raw)[:valueSize])
			ops = append(ops, crdt.Op{Key: fmt.Appendf(nil, "key-%07d", i), Dot: crdt.Dot{Node: origin, Counter: uint64(i + 1)},
				HLC: hlc.FromTime(time.Now()), Type: "text/plain", Value: value})
		}
		if _, err := tn.st.ApplyRemote(context.Background(), ops); err != nil {
			b.Fatal(err)
		}
	}
}

// countingDial counts the bytes read on every connection it makes.
func countingDial(n *atomic.Int64) func(*stdnet.Dialer) func(ctx context.Context, network, addr string) (stdnet.Conn, error) {
	return func(d *stdnet.Dialer) func(ctx context.Context, network, addr string) (stdnet.Conn, error) {
		return func(ctx context.Context, network, addr string) (stdnet.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: c, n: n}, nil
		}
	}
}

type countingConn struct {
	stdnet.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	k, err := c.Conn.Read(p)
	c.n.Add(int64(k))
	return k, err
}
