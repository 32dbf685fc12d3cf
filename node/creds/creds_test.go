package creds_test

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/testpki"
	"github.com/yzma/yzma/internal/testwait"
	"github.com/yzma/yzma/node/creds"
)

func TestParseTokens(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		roles   map[string]creds.Role
		wantErr string
	}{
		{"roles", "# comment\nrw admin\n\nro reader\nbare\n", map[string]creds.Role{
			"admin": creds.RoleReadWrite, "reader": creds.RoleReadOnly, "bare": creds.RoleReadWrite,
			"other": creds.RoleNone, "": creds.RoleNone, "admi": creds.RoleNone}, ""},
		{"same token twice keeps the stronger role", "ro t\nrw t\n", map[string]creds.Role{"t": creds.RoleReadWrite}, ""},
		{"empty", "\n# nothing\n", nil, "no token"},
		{"unknown role", "admin tok\n", nil, "line 1"},
		{"three fields", "rw a b\n", nil, "line 1"},
		{"control character", "rw a\x01b\n", nil, "printable"},
		{"too long", "rw " + strings.Repeat("x", creds.MaxTokenLen+1) + "\n", nil, "longer than"},
		{"line past the buffer", strings.Repeat("x", 3*creds.MaxTokenLen) + "\n", nil, "too long"},
		{"too many", strings.Repeat("rw t\n", creds.MaxEntries+1), nil, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := creds.ParseTokens([]byte(tt.file))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "a\x01b") {
					t.Fatal("the error quotes the secret")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for tok, want := range tt.roles {
				if r := got.Role(tok); r != want {
					t.Errorf("Role(%q) = %v, want %v", tok, r, want)
				}
			}
		})
	}
}

func TestFirstReadWrite(t *testing.T) {
	for file, want := range map[string]string{
		"ro reader\nrw admin\nrw second\n": "admin",
		"bare\n":                           "bare",
		"ro reader\n":                      "",
	} {
		got, err := creds.FirstReadWrite([]byte(file))
		if got != want || (want == "") != (err != nil) {
			t.Errorf("FirstReadWrite(%q) = %q, %v; want %q", file, got, err, want)
		}
	}
}

func TestSecretsAndKeys(t *testing.T) {
	s, err := creds.ParseSecrets([]byte("new\nold\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.First() != "new" || !s.Valid("old") || !s.Valid("new") || s.Valid("ne") || s.Valid("") {
		t.Fatalf("secrets %+v", s)
	}
	if _, err := creds.ParseSecrets([]byte("a b\n")); err == nil {
		t.Fatal("a secret with a space was taken")
	}
	keys, err := creds.ParseGossipKeys([]byte("MDEyMzQ1Njc4OWFiY2RlZg==\nMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"))
	if err != nil || len(keys) != 2 || len(keys[0]) != 16 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	for _, bad := range []string{"", "c2hvcnQ=\n", "not base64!\n"} {
		if _, err := creds.ParseGossipKeys([]byte(bad)); !errors.Is(err, creds.ErrMalformed) && err == nil {
			t.Errorf("keys file %q taken", bad)
		}
	}
}

// TestFileFollowsChanges: a change is seen within CheckInterval; a broken
// file keeps the last good value and reports why; a fixed one is taken.
func TestFileFollowsChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("rw one\n")
	f, err := creds.NewFile(func(raw [][]byte) (creds.Tokens, error) { return creds.ParseTokens(raw[0]) }, path)
	if err != nil {
		t.Fatal(err)
	}
	write("rw one\nrw two\n")
	testwait.For(t, "the second token", 3*creds.CheckInterval, 50*time.Millisecond, func() bool {
		return f.Get().Role("two") == creds.RoleReadWrite
	})
	write("garbage line here\n")
	if err := f.Reload(); err == nil {
		t.Fatal("a malformed file reloaded without error")
	}
	if f.Get().Role("two") != creds.RoleReadWrite || f.Err() == nil {
		t.Fatal("a malformed file replaced the tokens")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(); err == nil || f.Get().Role("one") != creds.RoleReadWrite {
		t.Fatal("a missing file replaced the tokens")
	}
	write("ro three\n")
	if err := f.Reload(); err != nil || f.Get().Role("one") != creds.RoleNone || f.Get().Role("three") != creds.RoleReadOnly {
		t.Fatalf("fixed file not taken: %v", err)
	}
}

// TestTLSVerifiesNamesAndFollowsRenewal: a client dialing with the CA
// accepts the server only under a name its certificate holds, and a
// certificate renewed on disk is served without a restart.
func TestTLSVerifiesNamesAndFollowsRenewal(t *testing.T) {
	ca := testpki.NewCA(t, "cluster CA")
	dir := t.TempDir()
	files := ca.WriteFiles(t, dir, "node-0.peers.test", "127.0.0.1")
	srvTLS, err := creds.NewTLS(files.Cert, files.Key, files.CA)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			_, _ = w.Write([]byte("peer"))
		}
	}))
	srv.TLS = srvTLS.ServerConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()

	clientFiles := ca.WriteFiles(t, filepath.Join(dir, "client"), "node-1.peers.test")
	cli, err := creds.NewTLS(clientFiles.Cert, clientFiles.Key, clientFiles.CA)
	if err != nil {
		t.Fatal(err)
	}
	serial := func(name string) (string, error) {
		conn, err := tls.Dial("tcp", addr, cli.ClientConfig(name))
		if err != nil {
			return "", err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
	}
	first, err := serial("node-0.peers.test")
	if err != nil {
		t.Fatalf("the right name: %v", err)
	}
	if _, err := serial("node-9.peers.test"); err == nil {
		t.Fatal("a name the certificate does not hold was accepted")
	}
	other := testpki.NewCA(t, "another CA")
	strangerFiles := other.WriteFiles(t, filepath.Join(dir, "stranger"), "node-0.peers.test")
	stranger, err := creds.NewTLS(strangerFiles.Cert, strangerFiles.Key, strangerFiles.CA)
	if err != nil {
		t.Fatal(err)
	}
	if conn, err := tls.Dial("tcp", addr, stranger.ClientConfig("node-0.peers.test")); err == nil {
		conn.Close()
		t.Fatal("a server certificate from another CA was accepted")
	}

	// A client certificate from the CA makes the caller a peer.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cli.ClientConfig("127.0.0.1")}}
	t.Cleanup(hc.CloseIdleConnections)
	resp, err := hc.Get("https://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 4)
	n, _ := resp.Body.Read(body)
	resp.Body.Close()
	if string(body[:n]) != "peer" {
		t.Fatalf("client certificate not verified: %q", body[:n])
	}

	// Renewal on disk: a new certificate and key, renamed into place.
	renewed := ca.WriteFiles(t, filepath.Join(dir, "renewed"), "node-0.peers.test", "127.0.0.1")
	for _, mv := range [][2]string{{renewed.Cert, files.Cert}, {renewed.Key, files.Key}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	testwait.For(t, "the renewed certificate served", 5*time.Second, 100*time.Millisecond, func() bool {
		s, err := serial("node-0.peers.test")
		return err == nil && s != first
	})
}
