package cluster

import (
	"fmt"
	"slices"
	"testing"
	"time"
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
