package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/loadgen"
)

// TestOverloadNeverStopsReadsOrHealth: 2,000 concurrent writers (100-byte
// values, from a load generator process of its own, as wrk would be)
// against one node process; /healthz, reads and /metrics keep answering
// within a second, each on a new connection as a probe makes it, because
// they never wait for the write queue; every write is answered, 200 or 503
// with Retry-After.
func TestOverloadNeverStopsReadsOrHealth(t *testing.T) {
	const writers, duration = 2000, 5 * time.Second
	p := startNode(t, filepath.Join(t.TempDir(), "data.db"))
	c := newClient(t, p.url)
	if _, err := c.Put(t.Context(), "probe", []byte("here"), "text/plain"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	gen := exec.Command(loadgenBinary, "-url", p.url, "-writers", fmt.Sprint(writers), "-duration", duration.String())
	gen.Stdout, gen.Stderr = &out, &out
	if err := gen.Start(); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var worst time.Duration
	probes := 0
	for deadline := time.Now().Add(duration - time.Second); time.Now().Before(deadline); {
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
			probes++
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := gen.Wait(); err != nil {
		t.Fatalf("load generator: %v\n%s", err, out.String())
	}
	var got loadgen.Counts
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("load generator output %q: %v", out.String(), err)
	}
	t.Logf("under %d writers: %d writes ok, %d shed; %d probes, the slowest %v", writers, got.OK, got.Shed, probes, worst)
	if worst > time.Second {
		t.Fatalf("a probe took %v under write load, want < 1s", worst)
	}
	if got.OK == 0 || got.Other != 0 || got.MissingRetry != 0 {
		t.Fatalf("writes: %+v", got)
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
