package pki

import (
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"
)

func TestIssueAndParse(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	ca, err := NewCA(Subject{CommonName: "test CA", Organization: "yzma"}, now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.IsCA || !ca.Cert.NotBefore.Equal(now.Add(-Backdate)) {
		t.Fatalf("CA: IsCA %v, NotBefore %v", ca.Cert.IsCA, ca.Cert.NotBefore)
	}
	tests := []struct {
		name     string
		subject  Subject
		lifetime time.Duration
		verify   string // name to verify, "" for none
		usage    x509.ExtKeyUsage
		notAfter time.Time
	}{
		{"server by DNS name", Subject{CommonName: "n", DNSNames: []string{"n.example"}, Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
			time.Hour, "n.example", x509.ExtKeyUsageServerAuth, now.Add(time.Hour)},
		{"server by IP", Subject{CommonName: "n", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
			time.Hour, "127.0.0.1", x509.ExtKeyUsageServerAuth, now.Add(time.Hour)},
		{"client, never beyond the CA", Subject{CommonName: strings.Repeat("c", 80), Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
			48 * time.Hour, "", x509.ExtKeyUsageClientAuth, now.Add(24 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaf, err := ca.Issue(tt.subject, now, tt.lifetime)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: tt.verify, CurrentTime: now,
				KeyUsages: []x509.ExtKeyUsage{tt.usage}}); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if !leaf.Cert.NotAfter.Equal(tt.notAfter) || len(leaf.Cert.Subject.CommonName) > 64 {
				t.Fatalf("NotAfter %v (want %v), CN of %d bytes", leaf.Cert.NotAfter, tt.notAfter, len(leaf.Cert.Subject.CommonName))
			}
			back, err := Parse(leaf.CertPEM, leaf.KeyPEM)
			if err != nil || !back.Cert.Equal(leaf.Cert) {
				t.Fatalf("parse: %v", err)
			}
		})
	}
	other, err := NewCA(Subject{CommonName: "other"}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(ca.CertPEM, other.KeyPEM); err == nil {
		t.Fatal("a certificate with another's key parsed")
	}
}
