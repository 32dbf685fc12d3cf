package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/testwait"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/yzma/yzma/node"
	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/httpapi"
)

// testEnv is a real node on a bbolt file in a temp dir, served over a real
// listener.
type testEnv struct {
	t        testing.TB
	opts     httpapi.Options
	nodeOpts node.Options // DBPath and Registerer are set by start
	node     *node.Node
	dbPath   string
	reg      *prometheus.Registry
	srv      *httptest.Server
}

func newEnv(t testing.TB, opts httpapi.Options) *testEnv {
	t.Helper()
	e := &testEnv{t: t, opts: opts, dbPath: filepath.Join(t.TempDir(), "data.db")}
	e.start()
	return e
}

// start opens the node and serves it, with a fresh metrics registry.
func (e *testEnv) start() {
	e.t.Helper()
	e.reg = prometheus.NewRegistry()
	nopts := e.nodeOpts
	nopts.DBPath, nopts.Registerer = e.dbPath, e.reg
	n, err := node.Open(nopts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.node = n
	e.t.Cleanup(func() { _ = n.Close() })
	opts := e.opts
	if opts.Registerer == nil {
		opts.Registerer, opts.Gatherer = e.reg, e.reg
	}
	h, err := httpapi.New(n, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	e.t.Cleanup(e.srv.Close)
}

// restart stops serving, closes the node and starts both again on the same
// data file.
func (e *testEnv) restart() {
	e.t.Helper()
	e.srv.Close()
	if err := e.node.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.start()
}

// reply is a response with its body read.
type reply struct {
	code   int
	header http.Header
	body   []byte
}

// envelope decodes the body as an envelope whose Data goes into data
// (which may be nil).
func (r reply) envelope(t testing.TB, data any) api.Envelope {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON; body %q", ct, r.body)
	}
	env := api.Envelope{Data: data}
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatalf("decode envelope %q: %v", r.body, err)
	}
	return env
}

// wantError checks an error envelope with code and a message containing msg.
func (r reply) wantError(t testing.TB, code int, msg string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d; body %s", r.code, code, r.body)
	}
	env := r.envelope(t, nil)
	if env.Status != api.StatusError || !strings.Contains(env.Error, msg) {
		t.Fatalf("envelope %+v, want error containing %q", env, msg)
	}
}

func (r reply) wantOK(t testing.TB, data any) {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", r.code, r.body)
	}
	if env := r.envelope(t, data); env.Status != api.StatusOK || env.Error != "" {
		t.Fatalf("envelope %+v, want ok", env)
	}
}

// do sends a request to path (already escaped) with headers given as
// name, value pairs.
func (e *testEnv) do(method, path string, body io.Reader, headers ...string) reply {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return reply{code: resp.StatusCode, header: resp.Header, body: b}
}

func (e *testEnv) put(path, value string, headers ...string) reply {
	e.t.Helper()
	r := e.do(http.MethodPut, path, strings.NewReader(value), headers...)
	r.wantOK(e.t, nil)
	return r
}

// rawRequest sends a request line byte for byte, bypassing Go's URL
// parsing, and returns the status code.
func (e *testEnv) rawRequest(line string) int {
	e.t.Helper()
	conn, err := net.DialTimeout("tcp", e.srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "%s\r\nHost: test\r\nConnection: close\r\n\r\n", line); err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	testwait.For(t, what, timeout, 5*time.Millisecond, cond)
}

// noRegisterer accepts registrations and keeps nothing, for a server
// without /metrics.
type noRegisterer struct{}

func (noRegisterer) Register(prometheus.Collector) error  { return nil }
func (noRegisterer) MustRegister(...prometheus.Collector) {}
func (noRegisterer) Unregister(prometheus.Collector) bool { return true }
