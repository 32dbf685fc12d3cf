package httpapi_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"

	"github.com/yzma/yzma/internal/testpki"
	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/cluster"
	"github.com/yzma/yzma/node/creds"
	"github.com/yzma/yzma/node/httpapi"
)

// memberEnv is a one-member cluster's node served with auth, so that
// /internal/* exists.
func memberEnv(t *testing.T, auth httpapi.Auth) *testEnv {
	t.Helper()
	e := &testEnv{t: t, opts: httpapi.Options{Auth: auth}, dbPath: filepath.Join(t.TempDir(), "data.db")}
	e.nodeOpts.Cluster = &cluster.Config{Name: "solo", BindAddr: "127.0.0.1", Memberlist: memberlist.DefaultLocalConfig}
	e.start()
	if err := e.node.Join(t.Context()); err != nil { // alone: ready at once
		t.Fatal(err)
	}
	return e
}

func tokens(t *testing.T, file string) *creds.File[creds.Tokens] {
	t.Helper()
	tk, err := creds.ParseTokens([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	return creds.Static(tk)
}

// TestRolesAndPeers: client tokens are refused on /internal/*, a read-only
// token on writes; the peer secret opens /internal/* and nothing else.
func TestRolesAndPeers(t *testing.T) {
	full := memberEnv(t, httpapi.Auth{Tokens: tokens(t, "rw admin\nro reader\n"),
		Peers: creds.Static(creds.SecretsOf("peer-secret"))})
	noPeers := memberEnv(t, httpapi.Auth{Tokens: tokens(t, "rw admin\n")})
	full.put("/keys/k", "v", "Authorization", "Bearer admin")
	tests := []struct {
		name         string
		env          *testEnv
		method, path string
		token        string
		code         int
		msg          string
	}{
		{"admin reads", full, http.MethodGet, "/keys/k", "admin", 200, ""},
		{"admin writes", full, http.MethodPut, "/keys/k", "admin", 200, ""},
		{"reader reads", full, http.MethodGet, "/keys/k", "reader", 200, ""},
		{"reader lists", full, http.MethodGet, "/keys", "reader", 200, ""},
		{"reader cannot write", full, http.MethodPut, "/keys/k", "reader", 403, "read-only token"},
		{"reader cannot delete", full, http.MethodDelete, "/keys/k", "reader", 403, "read-only token"},
		{"reader cannot leave", full, http.MethodPost, "/cluster/leave", "reader", 403, "read-only token"},
		{"peer secret is no client token", full, http.MethodGet, "/keys/k", "peer-secret", 401, "invalid bearer token"},
		{"admin refused on vv", full, http.MethodGet, cluster.PathVV, "admin", 403, "peers only"},
		{"admin refused on push", full, http.MethodPost, cluster.PathOps, "admin", 403, "peers only"},
		{"admin refused on pull", full, http.MethodGet, cluster.PathOps + "?origin=0&after=0&limit=1&maxBytes=1", "admin", 403, "peers only"},
		{"admin refused on snapshot", full, http.MethodGet, cluster.PathSnapshot, "admin", 403, "peers only"},
		{"reader refused on snapshot", full, http.MethodGet, cluster.PathSnapshot, "reader", 403, "peers only"},
		{"nobody on snapshot", full, http.MethodGet, cluster.PathSnapshot, "", 401, "peer credential required"},
		{"peer on vv", full, http.MethodGet, cluster.PathVV, "peer-secret", 200, ""},
		{"peer on snapshot", full, http.MethodGet, cluster.PathSnapshot, "peer-secret", 200, ""},
		{"no peer credential configured: nobody", noPeers, http.MethodGet, cluster.PathVV, "admin", 403, "peers only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.token != "" {
				hdr = []string{"Authorization", "Bearer " + tt.token}
			}
			r := tt.env.do(tt.method, tt.path, strings.NewReader("x"), hdr...)
			if tt.msg == "" {
				if r.code != tt.code {
					t.Fatalf("status %d, want %d: %s", r.code, tt.code, r.body)
				}
				return
			}
			r.wantError(t, tt.code, tt.msg)
		})
	}
	// Through a proxy that keeps Authorization: the token header.
	if r := full.do(http.MethodPut, "/keys/h", strings.NewReader("x"), api.TokenHeader, "admin"); r.code != 200 {
		t.Fatalf("write with %s: %d %s", api.TokenHeader, r.code, r.body)
	}
	full.do(http.MethodPut, "/keys/h", strings.NewReader("x"), "Authorization", "Bearer nope", api.TokenHeader, "admin").
		wantError(t, 401, "invalid bearer token") // Authorization, when present, is the one read
	if got := full.do(http.MethodGet, "/keys/k", nil, "Authorization", "Bearer admin"); !strings.Contains(string(got.body), `"eA=="`) {
		t.Fatalf("the admin's write is not what is stored after the reader's refused delete: %s", got.body)
	}
}

// TestPeerCertificates: over TLS with the cluster CA, a client certificate
// it signed makes the caller a peer (and lets it call client routes too);
// one from another CA is not one (crypto/tls offers only a certificate
// the server's CA list names, so the caller comes without one).
func TestPeerCertificates(t *testing.T) {
	ca := testpki.NewCA(t, "cluster CA")
	files := ca.WriteFiles(t, t.TempDir(), "127.0.0.1")
	kp, err := creds.NewTLS(files.Cert, files.Key, files.CA)
	if err != nil {
		t.Fatal(err)
	}
	e := memberEnv(t, httpapi.Auth{Tokens: tokens(t, "rw admin\n"), PeerCerts: true})
	srv := httptest.NewUnstartedServer(e.srv.Config.Handler)
	srv.TLS = kp.ServerConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	get := func(cert *tls.Certificate, path, token string) int {
		cfg := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		defer hc.CloseIdleConnections()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	peerCert := ca.KeyPair(t, "node-1")
	strangerCert := testpki.NewCA(t, "other CA").KeyPair(t, "node-1")
	for _, tt := range []struct {
		name  string
		cert  *tls.Certificate
		path  string
		token string
		want  int
	}{
		{"peer certificate on vv", &peerCert, cluster.PathVV, "", 200},
		{"peer certificate on keys", &peerCert, "/keys", "", 200},
		{"no certificate on vv", nil, cluster.PathVV, "", 401},
		{"token, no certificate, on vv", nil, cluster.PathVV, "admin", 403},
		{"token, no certificate, on keys", nil, "/keys", "admin", 200},
		{"certificate from another CA", &strangerCert, cluster.PathVV, "", 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := get(tt.cert, tt.path, tt.token); got != tt.want {
				t.Fatalf("status %d, want %d (-1: no answer)", got, tt.want)
			}
		})
	}
}
