// Package testpki makes certificate authorities and certificates for
// tests (with package pki): a CA, leaf certificates it signs for given
// names (usable by servers and as client certificates, as the operator
// issues them), and their PEM files in a test's temporary directory.
package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/pki"
)

// CA is a certificate authority.
type CA struct {
	Cert *x509.Certificate
	PEM  []byte
	kp   *pki.KeyPair
}

// NewCA makes a CA valid for a day.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	kp, err := pki.NewCA(pki.Subject{CommonName: name}, time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: kp.Cert, PEM: kp.CertPEM, kp: kp}
}

// Pool is a pool holding the CA.
func (ca *CA) Pool() *x509.CertPool { return ca.kp.Pool() }

// Issue returns the PEM certificate and key of a leaf for names (DNS names
// or IPs), for server and client authentication.
func (ca *CA) Issue(t testing.TB, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	s := pki.Subject{CommonName: names[0], Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			s.IPs = append(s.IPs, ip)
		} else {
			s.DNSNames = append(s.DNSNames, n)
		}
	}
	kp, err := ca.kp.Issue(s, time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return kp.CertPEM, kp.KeyPEM
}

// KeyPair is Issue as a tls.Certificate.
func (ca *CA) KeyPair(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	c, k := ca.Issue(t, names...)
	kp, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// Files are the PEM files of a node's TLS settings.
type Files struct {
	Cert, Key, CA string
}

// WriteFiles issues a leaf for names and writes it, its key and the CA
// into dir (created if needed).
func (ca *CA) WriteFiles(t testing.TB, dir string, names ...string) Files {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c, k := ca.Issue(t, names...)
	f := Files{Cert: filepath.Join(dir, "tls.crt"), Key: filepath.Join(dir, "tls.key"), CA: filepath.Join(dir, "ca.crt")}
	for _, w := range []struct {
		path string
		b    []byte
	}{{f.Cert, c}, {f.Key, k}, {f.CA, ca.PEM}} {
		if err := os.WriteFile(w.path, w.b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}
