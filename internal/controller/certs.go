package controller

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
	"github.com/yzma/yzma/internal/pki"
)

// The certificates the operator generates for a cluster without
// spec.tls.secretName: a self-signed CA, kept in "<cluster>-ca", and the
// nodes' certificate signed by it, in "<cluster>-tls" with the CA's
// certificate as ca.crt. Every node presents the same certificate: as a
// server to clients and peers, and as a client to peers (hence both
// extended key usages). The functions here are pure (the time is given),
// so that certs_test.go checks them without an API server; secrets.go
// stores what they make.
const (
	caLifetime   = 10 * 365 * 24 * time.Hour
	leafLifetime = 365 * 24 * time.Hour
)

// errCert means PEM data is not a usable certificate or key.
var errCert = errors.New("unusable certificate")

// certSANs are a certificate's subject alternative names.
type certSANs struct {
	DNSNames []string
	IPs      []net.IP
}

// clusterSANs are the names the nodes' certificate holds: the client and
// headless Services in every form a client in the cluster may use, every
// pod through the headless Service's wildcard (the names the nodes
// advertise and verify, podDNSName), and localhost, so that a client
// through kubectl port-forward verifies it too.
func clusterSANs(c *yzmav1.YzmaCluster, clusterDomain string) certSANs {
	var dns []string
	for _, svc := range []string{clientName(c), headlessName(c)} {
		dns = append(dns, svc, svc+"."+c.Namespace, svc+"."+c.Namespace+".svc", svc+"."+c.Namespace+".svc."+clusterDomain)
	}
	pods := "*." + headlessName(c) + "." + c.Namespace + ".svc"
	dns = append(dns, pods, pods+"."+clusterDomain, "localhost")
	return certSANs{DNSNames: dns, IPs: []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}}
}

// equal says whether s and o hold the same names, in any order.
func (s certSANs) equal(o certSANs) bool {
	if !slices.Equal(slices.Sorted(slices.Values(s.DNSNames)), slices.Sorted(slices.Values(o.DNSNames))) {
		return false
	}
	ips := func(l []net.IP) []string {
		out := make([]string, len(l))
		for i, ip := range l {
			out[i] = ip.String()
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(ips(s.IPs), ips(o.IPs))
}

// keyPair is a parsed certificate and its private key.
type keyPair = pki.KeyPair

// newCA makes a self-signed ECDSA P-256 CA certificate valid caLifetime
// from now, as PEM certificate and PKCS #8 key.
func newCA(commonName string, now time.Time) (certPEM, keyPEM []byte, err error) {
	ca, err := pki.NewCA(pki.Subject{CommonName: commonName, Organization: appName}, now, caLifetime)
	if err != nil {
		return nil, nil, fmt.Errorf("CA: %w", err)
	}
	return ca.CertPEM, ca.KeyPEM, nil
}

// parseCA reads a CA's PEM certificate and key, as newCA makes them.
func parseCA(certPEM, keyPEM []byte) (*keyPair, error) {
	ca, err := pki.Parse(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCert, err)
	}
	if !ca.Cert.IsCA {
		return nil, fmt.Errorf("%w: not a CA certificate", errCert)
	}
	return ca, nil
}

// newLeaf makes the nodes' certificate, signed by ca: ECDSA P-256, for
// both server and client authentication, with sans, valid leafLifetime
// from now (and not beyond the CA). It returns PEM certificate and PKCS #8
// key.
func newLeaf(ca *keyPair, commonName string, sans certSANs, now time.Time) (certPEM, keyPEM []byte, err error) {
	leaf, err := ca.Issue(pki.Subject{CommonName: commonName, Organization: appName, DNSNames: sans.DNSNames, IPs: sans.IPs,
		Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}, now, leafLifetime)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate: %w", err)
	}
	return leaf.CertPEM, leaf.KeyPEM, nil
}

// leafRenewal says why the nodes' certificate must be issued again, or ""
// when it may stay: it must be a certificate with its key, signed by ca,
// for both usages, naming exactly want, with at least a third of its
// lifetime left at now.
func leafRenewal(ca *keyPair, certPEM, keyPEM []byte, want certSANs, now time.Time) string {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil || pair.Leaf == nil {
		return fmt.Sprintf("no usable certificate and key (%v)", err)
	}
	cert := pair.Leaf
	if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
		return "not signed by the cluster's CA"
	}
	if !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return "not for both server and client authentication"
	}
	if !want.equal(certSANs{DNSNames: cert.DNSNames, IPs: cert.IPAddresses}) {
		return "names differ from the cluster's"
	}
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	if left := cert.NotAfter.Sub(now); left < lifetime/3 {
		return fmt.Sprintf("expires at %s, less than a third of its lifetime left", cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return ""
}

// checkTLSData checks a TLS Secret's data as the nodes and the operator
// use it: tls.crt and tls.key a certificate and its key, ca.crt at least
// one CA certificate.
func checkTLSData(data map[string][]byte) error {
	if _, err := tls.X509KeyPair(data[tlsCertKey], data[tlsKeyKey]); err != nil {
		return fmt.Errorf("%s and %s: %w: %w", tlsCertKey, tlsKeyKey, errCert, err)
	}
	if _, err := certPool(data[caCertKey]); err != nil {
		return fmt.Errorf("%s: %w", caCertKey, err)
	}
	return nil
}

// certPool is a pool of the PEM certificates in bundle; it holds at least
// one.
func certPool(bundle []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		return nil, fmt.Errorf("%w: no PEM certificate", errCert)
	}
	return pool, nil
}
