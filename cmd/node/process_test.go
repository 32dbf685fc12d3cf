package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/syncbuf"
	"github.com/yzma/yzma/internal/testwait"

	"github.com/yzma/yzma/internal/nettest"
	"github.com/yzma/yzma/internal/proctest"
	"github.com/yzma/yzma/node"
	"github.com/yzma/yzma/node/client"
)

// binary is the node built once for the process tests; loadgenBinary the
// load generator (internal/loadgen/cmd/loadgen). Both are built without the
// race detector, whatever the tests run under.
var binary, loadgenBinary string

func TestMain(m *testing.M) {
	os.Exit(proctest.Main(m,
		proctest.Build{Pkg: "github.com/yzma/yzma/cmd/node", Out: &binary},
		proctest.Build{Pkg: "github.com/yzma/yzma/internal/loadgen/cmd/loadgen", Out: &loadgenBinary}))
}

// proc is a running node binary.
type proc struct {
	cmd    *exec.Cmd
	url    string
	env    map[string]string // the YZMA_* settings it was started with
	logs   *syncbuf.Buffer
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

// startNode runs the binary on a free 127.0.0.1 port with its data in
// dbPath, and waits until /healthz answers.
// extraEnv adds or overrides settings; by default gossip listens on a free
// loopback port.
func startNode(t testing.TB, dbPath string, extraEnv ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary)
	cmd.Env = append(proctest.CleanEnv(), "YZMA_API_BIND=127.0.0.1:0", "YZMA_DB_PATH="+dbPath, "YZMA_PEERING_NAME=test",
		"YZMA_PEERING_BIND_ADDR=127.0.0.1", fmt.Sprint("YZMA_PEERING_BIND_PORT=", freePort(t)))
	cmd.Env = append(cmd.Env, extraEnv...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: &syncbuf.Buffer{}, exited: make(chan struct{}), env: map[string]string{}}
	for _, kv := range cmd.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			p.env[k] = v
		}
	}
	addr := make(chan string, 1)
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			_, _ = fmt.Fprintln(p.logs, sc.Text()) // a syncbuf.Buffer write does not fail
			var rec struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "http api listening" {
				addr <- rec.URL
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() {
		<-logsDone // Wait closes the pipe: read it all first
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("node logs:\n%s", p.logs.String())
		}
	})
	select {
	case u := <-addr:
		p.url = u
	case <-p.exited:
		t.Fatalf("node exited at start: %v\n%s", p.err, p.logs.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("node did not report its address:\n%s", p.logs.String())
	}
	// Up is all this asks: over TLS, without verifying who answers.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a liveness wait, not a check
	t.Cleanup(hc.CloseIdleConnections)
	c, err := client.New(p.url, client.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/healthz", 10*time.Second, func() bool { return c.Healthz(t.Context()) == nil })
	return p
}

// client is a client of the node, over HTTPS with its own CA and name
// when it serves TLS, sending token when not empty.
func (p *proc) client(t testing.TB, token string) *client.Client {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	if strings.HasPrefix(p.url, "https:") {
		cfg, err := client.TLSFiles{CA: p.env["YZMA_TLS_CA_FILE"], ServerName: p.env["YZMA_API_ADVERTISE_NAME"]}.Config()
		if err != nil {
			t.Fatal(err)
		}
		hc.Transport = &http.Transport{TLSClientConfig: cfg}
	}
	c, err := client.New(p.url, client.WithHTTPClient(hc), client.WithBearerToken(token))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// freePort returns a port free for both TCP and UDP on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	return nettest.FreePort(t, "127.0.0.1")
}

// wait waits for the process to exit and returns its exit code (-1 when a
// signal killed it).
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		t.Fatalf("node still running after %v", timeout)
	}
	var exitErr *exec.ExitError
	if p.err != nil && !errors.As(p.err, &exitErr) {
		t.Fatalf("wait: %v", p.err)
	}
	return p.cmd.ProcessState.ExitCode()
}

func newClient(t testing.TB, url string) *client.Client {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	c, err := client.New(url, client.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	testwait.For(t, what, timeout, 10*time.Millisecond, cond)
}

// TestCrashKeepsAcknowledgedWrites kills the node with SIGKILL in the middle
// of a stream of writes and checks, after a restart on the same file, that
// every write answered 200 is there.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	const (
		writers   = 8
		maxWrites = 2000
		killAfter = 300 // acknowledged writes
		maxTime   = 5 * time.Second
	)
	db := filepath.Join(t.TempDir(), "data.db")
	p := startNode(t, db)
	c := newClient(t, p.url)

	type writer struct {
		acked   map[string]string // key → value answered 200
		lastSeq int               // last acknowledged value of the writer's counter key
		err     error             // first failure before the kill
	}
	ws := make([]writer, writers)
	var sent, acked atomic.Int64
	var killed atomic.Bool
	deadline := time.Now().Add(maxTime)
	var wg sync.WaitGroup
	for w := range ws {
		ws[w] = writer{acked: map[string]string{}, lastSeq: -1}
		wg.Go(func() {
			me := &ws[w]
			for i := 0; sent.Add(2) <= maxWrites && time.Now().Before(deadline); i++ {
				key, val := fmt.Sprintf("w%d/k%d", w, i), fmt.Sprintf("value %d of writer %d", i, w)
				if _, err := c.Put(t.Context(), key, []byte(val), "text/plain"); err != nil {
					if !killed.Load() {
						me.err = err
					}
					return
				}
				me.acked[key] = val
				if _, err := c.Put(t.Context(), fmt.Sprintf("w%d/seq", w), []byte(fmt.Sprint(i)), ""); err != nil {
					if !killed.Load() {
						me.err = err
					}
					return
				}
				me.lastSeq = i
				acked.Add(2)
			}
		})
	}
	waitFor(t, "writes to be acknowledged", maxTime, func() bool { return acked.Load() >= killAfter })
	killed.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if code := p.wait(t, 10*time.Second); code != -1 {
		t.Fatalf("exit code %d after SIGKILL, want death by signal", code)
	}
	t.Logf("%d writes sent, %d acknowledged before the kill", sent.Load(), acked.Load())

	p2 := startNode(t, db)
	c2 := newClient(t, p2.url)
	for w, me := range ws {
		if me.err != nil {
			t.Fatalf("writer %d failed before the kill: %v", w, me.err)
		}
		for key, want := range me.acked {
			got, err := c2.Get(t.Context(), key)
			if err != nil || string(got.Data) != want {
				t.Fatalf("acknowledged %s = %q lost after the crash: got %q, %v", key, want, got.Data, err)
			}
		}
		if me.lastSeq >= 0 {
			got, err := c2.Get(t.Context(), fmt.Sprintf("w%d/seq", w))
			var seq int
			if err == nil {
				_, err = fmt.Sscan(string(got.Data), &seq)
			}
			if err != nil || seq < me.lastSeq {
				t.Fatalf("writer %d counter = %d (%v), want at least the acknowledged %d", w, seq, err, me.lastSeq)
			}
		}
	}
}

// TestSIGTERM checks that SIGTERM lets a write in flight finish, exits 0
// and leaves a data file that reopens cleanly with every write.
func TestSIGTERM(t *testing.T) {
	db := filepath.Join(t.TempDir(), "data.db")
	p := startNode(t, db)
	c := newClient(t, p.url)
	waitFor(t, "/readyz", 10*time.Second, func() bool { return c.Readyz(t.Context()) == nil })
	for i := range 20 {
		if _, err := c.Put(t.Context(), fmt.Sprintf("k%d", i), []byte(fmt.Sprint(i)), ""); err != nil {
			t.Fatal(err)
		}
	}

	// A write whose body is still arriving when the signal comes.
	body, bodyW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.url+"/keys/inflight", body)
		if err == nil {
			var resp *http.Response
			if resp, err = http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
		}
		done <- err
	}()
	if _, err := bodyW.Write([]byte("half ")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the write to be in flight", 5*time.Second, func() bool { return inFlight(t, p.url) >= 2 })

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "shutdown to start", 5*time.Second, func() bool {
		return strings.Contains(p.logs.String(), "shutting down")
	})
	if _, err := bodyW.Write([]byte("and half")); err != nil {
		t.Fatal(err)
	}
	bodyW.Close()
	if err := <-done; err != nil {
		t.Fatalf("in-flight write: %v", err)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(p.logs.String(), "data file closed") {
		t.Fatalf("no clean close logged:\n%s", p.logs.String())
	}

	n, err := node.Open(node.Options{DBPath: db})
	if err != nil {
		t.Fatalf("data file does not reopen: %v", err)
	}
	defer func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	}()
	for i := range 20 {
		item, err := n.Get([]byte(fmt.Sprintf("k%d", i)))
		if err != nil || string(item.Shown().Value) != fmt.Sprint(i) {
			t.Fatalf("k%d after SIGTERM: %q, %v", i, item.Shown().Value, err)
		}
	}
	if item, err := n.Get([]byte("inflight")); err != nil || string(item.Shown().Value) != "half and half" {
		t.Fatalf("in-flight write after SIGTERM: %q, %v", item.Shown().Value, err)
	}
}

// inFlight reads the yzma_http_requests_in_flight gauge (it counts the
// /metrics request itself); -1 when unreadable.
func inFlight(t *testing.T, url string) int {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var n int
		if _, err := fmt.Sscanf(sc.Text(), "yzma_http_requests_in_flight %d", &n); err == nil {
			return n
		}
	}
	return -1
}
