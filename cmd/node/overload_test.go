package main

import (
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/loadgen"
)

// TestOverloadNeverStopsReadsOrHealth: 2,000 concurrent writers against
// one node process (100-byte values); /healthz, reads and /metrics keep
// answering within a second, each on a new connection as a probe makes
// it, because they never wait for the write queue; every write is
// answered, 200 or 503 with Retry-After.
func TestOverloadNeverStopsReadsOrHealth(t *testing.T) {
	const writers = 2000
	p := startNode(t, filepath.Join(t.TempDir(), "data.db"))
	c := newClient(t, p.url)
	if _, err := c.Put(t.Context(), "probe", []byte("here"), "text/plain"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	l := loadgen.Start(p.url, writers, 50, 100, stop)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var worst time.Duration
	for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline); {
		for _, path := range []string{"/healthz", "/keys/probe", "/metrics"} {
			start := time.Now()
			resp, err := hc.Get(p.url + path)
			if err != nil {
				t.Fatalf("GET %s under load: %v", path, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s under load: %d", path, resp.StatusCode)
			}
			worst = max(worst, time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	l.Wait()
	t.Logf("under %d writers: %d writes ok, %d shed, worst probe %v", writers, l.OK.Load(), l.Shed.Load(), worst)
	if worst > time.Second {
		t.Fatalf("a probe took %v under write load, want < 1s", worst)
	}
	if l.OK.Load() == 0 || l.Other.Load() != 0 || l.MissingRetry.Load() != 0 {
		t.Fatalf("writes: %d ok, %d shed (%d without Retry-After), %d other", l.OK.Load(), l.Shed.Load(), l.MissingRetry.Load(), l.Other.Load())
	}
}

// BenchmarkOverload: one node process under 2,000 concurrent writers
// (100-byte values) for b.N rounds of 3 s, with a reader timing GETs of
// one key meanwhile. It reports writes/s, the share of writes answered 503
// and the p99 latency of the concurrent reads.
func BenchmarkOverload(b *testing.B) {
	const writers = 2000
	p := startNode(b, filepath.Join(b.TempDir(), "data.db"))
	hc := &http.Client{Timeout: 10 * time.Second}
	req, _ := http.NewRequest(http.MethodPut, p.url+"/keys/probe", strings.NewReader("here"))
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("put probe: %v", err)
	}
	var reads []time.Duration
	var ok, shed int64
	var elapsed time.Duration
	for range b.N {
		stop := make(chan struct{})
		start := time.Now()
		l := loadgen.Start(p.url, writers, 1<<20, 100, stop)
		for time.Since(start) < 3*time.Second {
			t0 := time.Now()
			resp, err := hc.Get(p.url + "/keys/probe")
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			reads = append(reads, time.Since(t0))
			time.Sleep(5 * time.Millisecond)
		}
		close(stop)
		l.Wait()
		elapsed += time.Since(start)
		ok += l.OK.Load()
		shed += l.Shed.Load()
	}
	slices.Sort(reads)
	b.ReportMetric(float64(ok)/elapsed.Seconds(), "writes/s")
	b.ReportMetric(float64(shed)/float64(max(ok+shed, 1)), "shed-share")
	b.ReportMetric(float64(reads[len(reads)*99/100].Microseconds())/1000, "p99-read-ms")
}
