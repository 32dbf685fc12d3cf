// Package pki issues the X.509 certificates Yzma makes for itself: a
// cluster CA and the nodes' certificate (the operator), the local
// cluster's kubelet CA and its client and serving certificates, and the
// tests' CAs. Keys are ECDSA P-256, stored as PKCS #8; serial numbers are
// 128 random bits; certificates start a few minutes in the past so that a
// peer whose clock is a little behind already accepts them.
//
// The functions take the time and the validity from the caller, so that
// what they make is predictable in tests; the caller keeps the policy
// (lifetimes, renewal).
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"time"
)

// Backdate is how far before the given time certificates start.
const Backdate = 5 * time.Minute

// ErrCert means PEM data is not a usable certificate or key.
var ErrCert = errors.New("unusable certificate or key")

// KeyPair is a certificate with its private key, parsed and as PEM.
type KeyPair struct {
	Cert    *x509.Certificate
	CertPEM []byte // the certificate alone
	KeyPEM  []byte
	Key     crypto.Signer
}

// Subject names a certificate and says what it is for.
type Subject struct {
	CommonName   string // cut to the 64 bytes X.509 allows
	Organization string
	DNSNames     []string
	IPs          []net.IP
	// Usages are the extended key usages of a leaf: server and/or client
	// authentication.
	Usages []x509.ExtKeyUsage
}

// NewCA makes a self-signed CA valid from now for lifetime.
func NewCA(s Subject, now time.Time, lifetime time.Duration) (*KeyPair, error) {
	tmpl := &x509.Certificate{
		Subject:   s.name(),
		NotBefore: now.Add(-Backdate), NotAfter: now.Add(lifetime),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	return create(tmpl, nil)
}

// Issue makes a leaf certificate for s signed by ca, valid from now for
// lifetime but never beyond the CA.
func (ca *KeyPair) Issue(s Subject, now time.Time, lifetime time.Duration) (*KeyPair, error) {
	notAfter := now.Add(lifetime)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject:   s.name(),
		NotBefore: now.Add(-Backdate), NotAfter: notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           slices.Clone(s.Usages),
		DNSNames:              slices.Clone(s.DNSNames),
		IPAddresses:           slices.Clone(s.IPs),
	}
	return create(tmpl, ca)
}

// Parse reads a PEM certificate (the first of the data) and its key.
func Parse(certPEM, keyPEM []byte) (*KeyPair, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCert, err)
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok || pair.Leaf == nil {
		return nil, fmt.Errorf("%w: the key cannot sign", ErrCert)
	}
	return &KeyPair{Cert: pair.Leaf, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pair.Leaf.Raw}),
		KeyPEM: keyPEM, Key: key}, nil
}

// TLS is the pair as a tls.Certificate.
func (kp *KeyPair) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{kp.Cert.Raw}, PrivateKey: kp.Key, Leaf: kp.Cert}
}

// Pool is a certificate pool holding this certificate (a CA's).
func (kp *KeyPair) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(kp.Cert)
	return p
}

func (s Subject) name() pkix.Name {
	cn := s.CommonName
	if len(cn) > 64 {
		cn = strings.TrimRight(cn[:64], ".-")
	}
	n := pkix.Name{CommonName: cn}
	if s.Organization != "" {
		n.Organization = []string{s.Organization}
	}
	return n
}

// create signs tmpl with a new key, by parent (nil: itself).
func create(tmpl *x509.Certificate, parent *KeyPair) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128)); err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	signer, issuer := crypto.Signer(key), tmpl
	if parent != nil {
		signer, issuer = parent.Key, parent.Cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return &KeyPair{Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), Key: key}, nil
}
