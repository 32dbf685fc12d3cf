package httpapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yzma/yzma/node/httpapi"
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
	certFile, keyFile, pool := selfSigned(t)
	srv := listen(t, e.srv.Config.Handler, httpapi.ServeOptions{TLSCertFile: certFile, TLSKeyFile: keyFile})
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

func TestListenErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name string
		addr string
		opts httpapi.ServeOptions
		msg  string
	}{
		{"bad address", "127.0.0.1:notaport", httpapi.ServeOptions{}, "listen"},
		{"cert without key", "127.0.0.1:0", httpapi.ServeOptions{TLSCertFile: missing}, "both"},
		{"missing cert", "127.0.0.1:0", httpapi.ServeOptions{TLSCertFile: missing, TLSKeyFile: missing}, "TLS key pair"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := httpapi.Listen(tt.addr, http.NotFoundHandler(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err %v, want one mentioning %q", err, tt.msg)
			}
		})
	}
	_, err := httpapi.Listen("127.0.0.1:0", http.NotFoundHandler(),
		httpapi.ServeOptions{TLSCertFile: missing, TLSKeyFile: missing})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing cert error %v does not wrap ErrNotExist", err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool trusting the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "yzma test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
