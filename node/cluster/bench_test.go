package cluster

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
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
