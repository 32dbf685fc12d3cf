package httpapi_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/testpki"
	"github.com/yzma/yzma/node/config"
	"github.com/yzma/yzma/node/creds"
	"github.com/yzma/yzma/node/httpapi"
	"github.com/yzma/yzma/node/store"
)

func TestRestartKeepsAcknowledgedWrites(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	const writers, perWriter = 4, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				e.put(fmt.Sprintf("/keys/w%d%%2F%d", w, i), fmt.Sprintf("v%d-%d", w, i))
			}
		})
	}
	wg.Wait()
	e.put("/keys/over", "old")
	e.put("/keys/over", "new")
	e.put("/keys/deleted", "x")
	e.do(http.MethodDelete, "/keys/deleted", nil).wantOK(t, nil)

	e.restart()
	for w := range writers {
		for i := range perWriter {
			r := e.do(http.MethodGet, fmt.Sprintf("/keys/w%d/%d?raw=1", w, i), nil)
			if want := fmt.Sprintf("v%d-%d", w, i); r.code != 200 || string(r.body) != want {
				t.Fatalf("after restart w%d/%d = %d %q, want %q", w, i, r.code, r.body, want)
			}
		}
	}
	if r := e.do(http.MethodGet, "/keys/over?raw=1", nil); string(r.body) != "new" {
		t.Fatalf("overwritten key after restart: %q", r.body)
	}
	e.do(http.MethodGet, "/keys/deleted", nil).wantError(t, http.StatusNotFound, "not found")
	if n := len(siblings(t, e, "/keys/over")); n != 1 {
		t.Fatalf("overwritten key has %d versions after restart", n)
	}
}

// listen serves h through httpapi.Listen until the test ends.
func listen(t *testing.T, h http.Handler, opts httpapi.ServeOptions) *httpapi.Server {
	t.Helper()
	srv, err := httpapi.Listen("127.0.0.1:0", h, opts)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

func TestShutdownFinishesInFlightWrites(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	arrived := make(chan struct{})
	var once sync.Once
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(arrived) })
		e.srv.Config.Handler.ServeHTTP(w, r)
	})
	srv := listen(t, h, httpapi.ServeOptions{})

	// A write whose body is still arriving when shutdown starts.
	body, bodyW := io.Pipe()
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Post(srv.URL()+"/keys/inflight", "text/plain", body)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{code: resp.StatusCode}
	}()
	if _, err := bodyW.Write([]byte("first half ")); err != nil {
		t.Fatal(err)
	}
	<-arrived

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	waitFor(t, "the listener to close", 5*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", srv.Addr().String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	default:
	}

	if _, err := bodyW.Write([]byte("second half")); err != nil {
		t.Fatal(err)
	}
	bodyW.Close()
	if r := <-done; r.err != nil || r.code != http.StatusOK {
		t.Fatalf("in-flight write: %d, %v", r.code, r.err)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	item, err := e.node.Get([]byte("inflight"))
	if err != nil || string(item.Shown().Value) != "first half second half" {
		t.Fatalf("in-flight write stored as %q, %v", item.Shown().Value, err)
	}
}

func TestTLS(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	ca := testpki.NewCA(t, "test CA")
	f := ca.WriteFiles(t, t.TempDir(), "127.0.0.1")
	kp, err := creds.NewTLS(f.Cert, f.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	pool := ca.Pool()
	srv := listen(t, e.srv.Config.Handler, httpapi.ServeOptions{TLS: kp})
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("URL %s, want https", srv.URL())
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(hc.CloseIdleConnections)
	req, err := http.NewRequest(http.MethodPut, srv.URL()+"/keys/tls", strings.NewReader("secure"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("PUT over TLS: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	// Plain HTTP to the TLS port is refused.
	plain, err := http.Get("http://" + srv.Addr().String() + "/healthz")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == 200 {
			t.Fatal("plain HTTP served on the TLS port")
		}
	}
}

func TestListenBadAddress(t *testing.T) {
	if _, err := httpapi.Listen("127.0.0.1:notaport", http.NotFoundHandler(), httpapi.ServeOptions{}); err == nil ||
		!strings.Contains(err.Error(), "listen") {
		t.Fatalf("err %v, want a listen error", err)
	}
}

func TestSlowClientsAreCutOff(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	const trickleBytes = 200 // one every 20ms: 4s if nobody stops it
	tests := []struct {
		name    string
		opts    httpapi.ServeOptions
		cutAt   time.Duration // the timeout that should fire
		head    string        // sent at once
		trickle string        // then one byte at a time
		key     string        // the key the request would write, if any
	}{
		{"slow headers", httpapi.ServeOptions{ReadHeaderTimeout: 200 * time.Millisecond}, 200 * time.Millisecond,
			"GET /healthz HTTP/1.1\r\nHost: test\r\n", "X-Slow: " + strings.Repeat("a", trickleBytes), ""},
		{"slow headers, header timeout off", httpapi.ServeOptions{ReadHeaderTimeout: -1, ReadTimeout: 200 * time.Millisecond},
			200 * time.Millisecond,
			"GET /healthz HTTP/1.1\r\nHost: test\r\n", "X-Slow: " + strings.Repeat("a", trickleBytes), ""},
		{"slow body", httpapi.ServeOptions{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 300 * time.Millisecond},
			300 * time.Millisecond,
			fmt.Sprintf("PUT /keys/slow HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", trickleBytes),
			strings.Repeat("b", trickleBytes), "slow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := listen(t, e.srv.Config.Handler, tt.opts)
			start := time.Now()
			conn := dialRaw(t, srv)
			if _, err := io.WriteString(conn, tt.head); err != nil {
				t.Fatal(err)
			}
			trickle(t, conn, tt.trickle, 20*time.Millisecond)
			got := readUntilClosed(t, conn, 5*time.Second)
			after := time.Since(start)
			if after < tt.cutAt {
				t.Fatalf("cut off after %v, before the %v timeout", after, tt.cutAt)
			}
			if after > 2*time.Second {
				t.Fatalf("cut off only after %v; the timeout is %v", after, tt.cutAt)
			}
			if strings.HasPrefix(string(got), "HTTP/1.1 2") {
				t.Fatalf("slow request was served: %q", got)
			}
			if tt.key != "" {
				if _, err := e.node.Get([]byte(tt.key)); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("key %q of the cut-off request: %v, want not found", tt.key, err)
				}
			}
		})
	}
}

func TestIdleKeepAliveConnections(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	tests := []struct {
		name       string
		idle       time.Duration
		wantClosed bool
	}{
		{"closed after IdleTimeout", 300 * time.Millisecond, true},
		{"kept with IdleTimeout off", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := listen(t, e.srv.Config.Handler, httpapi.ServeOptions{IdleTimeout: tt.idle})
			conn := dialRaw(t, srv)
			br := bufio.NewReader(conn)
			// Two requests with a pause between them: the connection is
			// kept alive, not closed after each answer.
			healthz(t, conn, br)
			time.Sleep(50 * time.Millisecond)
			healthz(t, conn, br)

			wait := 5 * time.Second
			if !tt.wantClosed {
				wait = 600 * time.Millisecond // twice the other case's timeout
			}
			_ = conn.SetReadDeadline(time.Now().Add(wait))
			n, err := br.ReadByte()
			switch {
			case tt.wantClosed && (err == nil || isTimeout(err)):
				t.Fatalf("idle connection still open after %v (read %v, %v)", wait, n, err)
			case !tt.wantClosed && !isTimeout(err):
				t.Fatalf("idle connection closed with IdleTimeout off: %v", err)
			case !tt.wantClosed:
				_ = conn.SetReadDeadline(time.Time{})
				healthz(t, conn, br) // still usable
			}
		})
	}
}

// The configuration's defaults are the server's.
func TestDefaultTimeoutsMatchConfig(t *testing.T) {
	api := config.Default().API
	for _, c := range []struct {
		name         string
		config, serv time.Duration
	}{
		{"ReadHeaderTimeout", api.ReadHeaderTimeout.Std(), httpapi.DefaultReadHeaderTimeout},
		{"ReadTimeout", api.ReadTimeout.Std(), httpapi.DefaultReadTimeout},
		{"IdleTimeout", api.IdleTimeout.Std(), httpapi.DefaultIdleTimeout},
	} {
		if c.config != c.serv {
			t.Errorf("%s: config default %v, server default %v", c.name, c.config, c.serv)
		}
	}
}

// dialRaw connects to srv; the connection closes when the test ends.
func dialRaw(t *testing.T, srv *httpapi.Server) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// trickle writes s to conn one byte every interval, in the background,
// until done, a write fails or the test ends.
func trickle(t *testing.T, conn net.Conn, s string, interval time.Duration) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := range len(s) {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte{s[i]}); err != nil {
				return
			}
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait() })
}

// readUntilClosed reads until the server closes conn (EOF or reset) and
// returns what it read; it fails the test if conn is still open after limit.
func readUntilClosed(t *testing.T, conn net.Conn, limit time.Duration) []byte {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(limit))
	got, err := io.ReadAll(conn)
	if isTimeout(err) {
		t.Fatalf("connection still open after %v (read %q)", limit, got)
	}
	return got
}

func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// healthz asks GET /healthz on a kept-alive connection and wants a 200.
func healthz(t *testing.T, conn net.Conn, br *bufio.Reader) {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = conn.SetDeadline(time.Time{}) }()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("GET /healthz: %d, close %v", resp.StatusCode, resp.Close)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool trusting the certificate.
