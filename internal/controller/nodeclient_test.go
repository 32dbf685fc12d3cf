package controller

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/yzma/yzma/node/api"
)

// TestHTTPNodeClientPaths checks where each access mode sends a call: the
// pod IP, or the API server's pod proxy with the API server's credentials.
// (The proxy itself is exercised on kind: the API server refuses to proxy
// to the loopback addresses local pods have.)
func TestHTTPNodeClientPaths(t *testing.T) {
	type seen struct{ path, auth string }
	var got seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = seen{r.URL.EscapedPath(), r.Header.Get("Authorization")}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"Status":"ok","Data":{"Members":[{"Name":"db-0","State":"alive"}]}}`))
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Hostname()
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	portNum := int32(port)

	tests := []struct {
		name   string
		access PodAccess
		cfg    *rest.Config
		target Target
		want   seen
	}{
		{"direct", PodAccessDirect, nil, Target{Namespace: "ns", Pod: "db-0", IP: host, Port: portNum},
			seen{"/cluster/members", ""}},
		{"direct with token", PodAccessDirect, nil, Target{Namespace: "ns", Pod: "db-0", IP: host, Port: portNum, Token: "s3"},
			seen{"/cluster/members", "Bearer s3"}},
		{"proxy", PodAccessProxy, &rest.Config{Host: srv.URL, BearerToken: "kube"}, Target{Namespace: "ns", Pod: "db-0", Port: 8080},
			seen{"/api/v1/namespaces/ns/pods/db-0:8080/proxy/cluster/members", "Bearer kube"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := NewHTTPNodeClient(tt.access, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			members, err := nc.Members(context.Background(), tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if len(members) != 1 || members[0].Name != "db-0" || got != tt.want {
				t.Errorf("members %+v, request %+v; want request %+v", members, got, tt.want)
			}
		})
	}

	nc, err := NewHTTPNodeClient(PodAccessDirect, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Leave(context.Background(), Target{Namespace: "ns", Pod: "db-1"}); !errors.Is(err, ErrNoPodIP) {
		t.Errorf("leave without a pod IP: %v, want ErrNoPodIP", err)
	}
	if _, err := NewHTTPNodeClient("sideways", nil); err == nil {
		t.Error("unknown access accepted")
	}
}

// TestHTTPNodeClientTLS calls a node over HTTPS with a certificate from
// certs.go: the call goes through for the pod's DNS name and the cluster's
// CA, and fails for another name, another CA, or no name at all.
func TestHTTPNodeClientTLS(t *testing.T) {
	ca := testCA(t, time.Now())
	c := cluster()
	now := time.Now()
	certPEM, keyPEM, err := newLeaf(ca, c.Name, clusterSANs(c, "cluster.local"), now)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	var auth atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"Status":"ok","Data":{"Members":[{"Name":"db-0","State":"alive"}]}}`))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	var handshakes atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			handshakes.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	other := testCA(t, time.Now())
	target := func(name string, caPEM []byte) Target {
		return Target{Namespace: "ns", Pod: "db-0", IP: u.Hostname(), Port: int32(port), Token: "s3", CA: caPEM, ServerName: name}
	}
	pod := podDNSName(c, "db-0", "cluster.local")

	nc, err := NewHTTPNodeClient(PodAccessDirect, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name   string
		target Target
		ok     bool
		errIs  error
	}{
		{"the pod's name", target(pod, ca.CertPEM), true, nil},
		{"another pod's name", target(podDNSName(c, "db-7", "cluster.local"), ca.CertPEM), true, nil},
		{"the client Service", target("db.ns.svc", ca.CertPEM), true, nil},
		{"a pod of another namespace", target("db-0.db-peers.other.svc.cluster.local", ca.CertPEM), false, nil},
		{"another name", target("example.org", ca.CertPEM), false, nil},
		{"another CA", target(pod, other.CertPEM), false, nil},
		{"no server name", target("", ca.CertPEM), false, ErrNoServerName},
		{"a CA that is not PEM", target(pod, []byte("nope")), false, errCert},
		{"plain HTTP to a TLS server", target(pod, nil), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth.Store("")
			members, err := nc.Members(ctx, tt.target)
			if tt.ok {
				if err != nil || len(members) != 1 {
					t.Fatalf("members %+v, %v", members, err)
				}
				if got := auth.Load(); got != "Bearer s3" {
					t.Errorf("Authorization %q, want the token", got)
				}
				return
			}
			if err == nil {
				t.Fatalf("the call went through: %+v", members)
			}
			if tt.errIs != nil && !errors.Is(err, tt.errIs) {
				t.Errorf("%v, want %v", err, tt.errIs)
			}
			var verr *tls.CertificateVerificationError
			if tt.errIs == nil && tt.target.CA != nil && !errors.As(err, &verr) {
				t.Errorf("%v, want a certificate verification error", err)
			}
		})
	}

	// One client per CA, its connections reused across calls.
	before := handshakes.Load()
	for range 3 {
		if _, err := nc.Members(ctx, target(pod, ca.CertPEM)); err != nil {
			t.Fatal(err)
		}
	}
	if got := handshakes.Load() - before; got > 1 {
		t.Errorf("%d new connections for 3 calls, want at most 1", got)
	}
	nc.mu.Lock()
	clients := len(nc.tls)
	nc.mu.Unlock()
	if clients != 2 {
		t.Errorf("%d TLS clients, want 2 (one per CA used)", clients)
	}
}

// TestHTTPNodeClientProxyTLS: through the pod proxy, TLS is asked of the
// API server with the "https:" prefix, and the node token travels in
// X-Yzma-Token (the API server takes Authorization for itself).
func TestHTTPNodeClientProxyTLS(t *testing.T) {
	var path, authz, token string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, authz, token = r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get(api.TokenHeader)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"Status":"ok","Data":{"Members":[]}}`))
	}))
	t.Cleanup(srv.Close)
	nc, err := NewHTTPNodeClient(PodAccessProxy, &rest.Config{Host: srv.URL, BearerToken: "kube"})
	if err != nil {
		t.Fatal(err)
	}
	tgt := Target{Namespace: "ns", Pod: "db-0", Port: 8080, Token: "node", CA: []byte("unused"), ServerName: "db-0.db-peers.ns.svc.cluster.local"}
	if _, err := nc.Members(context.Background(), tgt); err != nil {
		t.Fatal(err)
	}
	if path != "/api/v1/namespaces/ns/pods/https:db-0:8080/proxy/cluster/members" || authz != "Bearer kube" || token != "node" {
		t.Errorf("request %s with Authorization %q, token header %q", path, authz, token)
	}
}
