package controller

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// These tests need no API server.

var certEpoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// testCA makes a CA at now.
func testCA(t *testing.T, now time.Time) *keyPair {
	t.Helper()
	certPEM, keyPEM, err := newCA("db.ns CA", now)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := parseCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	b, rest := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" || len(strings.TrimSpace(string(rest))) != 0 {
		t.Fatalf("not one PEM certificate: %q", certPEM)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestNewCA(t *testing.T) {
	certPEM, keyPEM, err := newCA("db.ns CA", certEpoch)
	if err != nil {
		t.Fatal(err)
	}
	cert := parseCert(t, certPEM)
	if !cert.IsCA || !cert.BasicConstraintsValid || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA %+v: not a CA", cert)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", cert.PublicKey)
	}
	if got := cert.NotAfter.Sub(certEpoch); got != 10*365*24*time.Hour {
		t.Errorf("valid for %s after now, want 10 years", got)
	}
	if !cert.NotBefore.Before(certEpoch) {
		t.Errorf("NotBefore %s not before now %s", cert.NotBefore, certEpoch)
	}
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
		t.Errorf("key PEM %q, want PKCS #8", keyPEM)
	}
	ca, err := parseCA(certPEM, keyPEM)
	if err != nil || ca.Cert.SerialNumber.Cmp(cert.SerialNumber) != 0 || string(ca.CertPEM) != string(certPEM) {
		t.Errorf("parseCA: %+v, %v", ca, err)
	}

	// parseCA refuses what is not a CA with its key.
	other, otherKey, err := newCA("other", certEpoch)
	if err != nil {
		t.Fatal(err)
	}
	leaf, leafKey, err := newLeaf(ca, "db", certSANs{DNSNames: []string{"x"}}, certEpoch)
	if err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2][]byte{
		"another CA's key": {certPEM, otherKey},
		"a leaf":           {leaf, leafKey},
		"garbage":          {[]byte("x"), []byte("y")},
		"no key":           {other, nil},
	} {
		if _, err := parseCA(pair[0], pair[1]); !errors.Is(err, errCert) {
			t.Errorf("parseCA of %s: %v, want errCert", name, err)
		}
	}
}

func TestClusterSANs(t *testing.T) {
	c := cluster() // db in ns
	got := clusterSANs(c, "example.org")
	want := []string{
		"db", "db.ns", "db.ns.svc", "db.ns.svc.example.org",
		"db-peers", "db-peers.ns", "db-peers.ns.svc", "db-peers.ns.svc.example.org",
		"*.db-peers.ns.svc", "*.db-peers.ns.svc.example.org", "localhost",
	}
	if !slices.Equal(got.DNSNames, want) {
		t.Errorf("DNS names %v, want %v", got.DNSNames, want)
	}
	if len(got.IPs) != 2 || !got.IPs[0].Equal(net.ParseIP("127.0.0.1")) || !got.IPs[1].Equal(net.ParseIP("::1")) {
		t.Errorf("IPs %v, want 127.0.0.1 and ::1", got.IPs)
	}
	reversed := slices.Clone(want)
	slices.Reverse(reversed)
	if !got.equal(certSANs{DNSNames: reversed, IPs: []net.IP{net.ParseIP("::1"), net.ParseIP("127.0.0.1")}}) {
		t.Error("equal depends on the order")
	}
	other := cluster(func(c *yzmav1.YzmaCluster) { c.Namespace = "other" })
	if got.equal(clusterSANs(other, "example.org")) || got.equal(clusterSANs(c, "cluster.local")) {
		t.Error("equal ignores the names")
	}
}

// TestLeafCertificate checks the nodes' certificate as a TLS client and
// server verify it: its chain to the CA, its names, its usages.
func TestLeafCertificate(t *testing.T) {
	ca := testCA(t, certEpoch)
	c := cluster()
	sans := clusterSANs(c, "cluster.local")
	certPEM, keyPEM, err := newLeaf(ca, c.Name, sans, certEpoch)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkTLSData(map[string][]byte{tlsCertKey: certPEM, tlsKeyKey: keyPEM, caCertKey: ca.CertPEM}); err != nil {
		t.Errorf("checkTLSData: %v", err)
	}
	cert := parseCert(t, certPEM)
	if cert.IsCA {
		t.Error("the leaf is a CA")
	}
	if got := cert.NotAfter.Sub(certEpoch); got != 365*24*time.Hour {
		t.Errorf("valid for %s after now, want 1 year", got)
	}
	if cert.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("key usage %v, want digital signature", cert.KeyUsage)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	verify := func(name string, usage x509.ExtKeyUsage) error {
		_, err := cert.Verify(x509.VerifyOptions{
			DNSName: name, Roots: roots, CurrentTime: certEpoch.Add(time.Hour), KeyUsages: []x509.ExtKeyUsage{usage},
		})
		return err
	}
	for _, name := range []string{
		podDNSName(c, "db-0", "cluster.local"), podDNSName(c, "db-12", "cluster.local"), "db-3.db-peers.ns.svc",
		"db", "db.ns", "db.ns.svc", "db.ns.svc.cluster.local", "db-peers.ns.svc.cluster.local",
		"localhost", "127.0.0.1", "::1",
	} {
		if err := verify(name, x509.ExtKeyUsageServerAuth); err != nil {
			t.Errorf("as a server for %s: %v", name, err)
		}
	}
	for _, name := range []string{
		"db-0.db-peers.other.svc.cluster.local", "db-0.other-peers.ns.svc.cluster.local", "x.db-0.db-peers.ns.svc.cluster.local",
		"db.other.svc", "example.org", "10.0.0.1",
	} {
		if err := verify(name, x509.ExtKeyUsageServerAuth); err == nil {
			t.Errorf("verified as %s", name)
		}
	}
	// Nodes present it to each other as client certificates too.
	if err := verify("", x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("as a client: %v", err)
	}
	// Only the cluster's CA vouches for it.
	other := x509.NewCertPool()
	other.AddCert(testCA(t, certEpoch).Cert)
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "db", Roots: other, CurrentTime: certEpoch}); err == nil {
		t.Error("verified by another CA")
	}

	// Never beyond the CA.
	late, _, err := newLeaf(ca, c.Name, sans, ca.Cert.NotAfter.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got := parseCert(t, late).NotAfter; !got.Equal(ca.Cert.NotAfter) {
		t.Errorf("leaf made a day before the CA expires ends %s, the CA %s", got, ca.Cert.NotAfter)
	}
}

func TestLeafRenewal(t *testing.T) {
	ca := testCA(t, certEpoch)
	c := cluster()
	sans := clusterSANs(c, "cluster.local")
	certPEM, keyPEM, err := newLeaf(ca, c.Name, sans, certEpoch)
	if err != nil {
		t.Fatal(err)
	}
	otherCA := testCA(t, certEpoch)
	foreign, foreignKey, err := newLeaf(otherCA, c.Name, sans, certEpoch)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := newLeaf(ca, c.Name, sans, certEpoch)
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	tests := []struct {
		name          string
		cert, key     []byte
		sans          certSANs
		age           time.Duration
		renew         bool
		reasonContain string
	}{
		{"new", certPEM, keyPEM, sans, 0, false, ""},
		{"a day old", certPEM, keyPEM, sans, day, false, ""},
		{"half its life", certPEM, keyPEM, sans, 182 * day, false, ""},
		{"just over a third left", certPEM, keyPEM, sans, 243 * day, false, ""},
		{"just under a third left", certPEM, keyPEM, sans, 244 * day, true, "third"},
		{"a month left", certPEM, keyPEM, sans, 335 * day, true, "third"},
		{"expired", certPEM, keyPEM, sans, 400 * day, true, "third"},
		{"names changed", certPEM, keyPEM, clusterSANs(c, "example.org"), day, true, "names"},
		{"another CA", foreign, foreignKey, sans, day, true, "CA"},
		{"another key", certPEM, otherKey, sans, day, true, "no usable"},
		{"no certificate", nil, nil, sans, day, true, "no usable"},
		{"garbage", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), keyPEM, sans, day, true, "no usable"},
	}
	for _, tt := range tests {
		why := leafRenewal(ca, tt.cert, tt.key, tt.sans, certEpoch.Add(tt.age))
		if (why != "") != tt.renew || !strings.Contains(why, tt.reasonContain) {
			t.Errorf("%s: renewal %q, want renew %v (%q)", tt.name, why, tt.renew, tt.reasonContain)
		}
	}
}

func TestCheckTLSData(t *testing.T) {
	ca := testCA(t, certEpoch)
	certPEM, keyPEM, err := newLeaf(ca, "db", clusterSANs(cluster(), "cluster.local"), certEpoch)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := newLeaf(ca, "db", certSANs{}, certEpoch)
	if err != nil {
		t.Fatal(err)
	}
	bundle := append(append([]byte{}, testCA(t, certEpoch).CertPEM...), ca.CertPEM...)
	tests := []struct {
		name           string
		cert, key, crt []byte
		ok             bool
	}{
		{"valid", certPEM, keyPEM, ca.CertPEM, true},
		{"a CA bundle", certPEM, keyPEM, bundle, true},
		{"no CA", certPEM, keyPEM, nil, false},
		{"CA not PEM", certPEM, keyPEM, []byte("ca"), false},
		{"key of another certificate", certPEM, otherKey, ca.CertPEM, false},
		{"no certificate", nil, keyPEM, ca.CertPEM, false},
	}
	for _, tt := range tests {
		err := checkTLSData(map[string][]byte{tlsCertKey: tt.cert, tlsKeyKey: tt.key, caCertKey: tt.crt})
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, errCert)) {
			t.Errorf("%s: %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
