package creds

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// TLS is a node's certificate, key and CA bundle, re-read from their files
// when they change: the next handshake uses the new ones.
type TLS struct {
	f *File[tlsMaterial]
}

type tlsMaterial struct {
	cert tls.Certificate
	pool *x509.CertPool // nil without a CA file
}

// NewTLS loads a key pair and, when caFile is set, a CA bundle.
func NewTLS(certFile, keyFile, caFile string) (*TLS, error) {
	paths := []string{certFile, keyFile}
	if caFile != "" {
		paths = append(paths, caFile)
	}
	f, err := NewFile(parseTLS, paths...)
	if err != nil {
		return nil, err
	}
	return &TLS{f: f}, nil
}

func parseTLS(raw [][]byte) (tlsMaterial, error) {
	cert, err := tls.X509KeyPair(raw[0], raw[1])
	if err != nil {
		return tlsMaterial{}, fmt.Errorf("TLS key pair: %w", err)
	}
	m := tlsMaterial{cert: cert}
	if len(raw) > 2 {
		m.pool = x509.NewCertPool()
		if !m.pool.AppendCertsFromPEM(raw[2]) {
			return tlsMaterial{}, errors.New("CA bundle: no PEM certificate in it")
		}
	}
	return m, nil
}

// HasCA reports whether a CA bundle verifies peers.
func (t *TLS) HasCA() bool { return t.f.Get().pool != nil }

// Err is the error that keeps the previous files in use, if any.
func (t *TLS) Err() error { return t.f.Err() }

// ServerConfig serves the current certificate; with a CA it asks for a
// client certificate and verifies one if given (peers give theirs;
// clients with a token need none), so a handler can tell a peer by
// r.TLS.VerifiedChains.
func (t *TLS) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			m := t.f.Get()
			return &m.cert, nil
		},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := t.f.Get()
			c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{m.cert},
				NextProtos: []string{"http/1.1"}}
			if m.pool != nil {
				c.ClientCAs, c.ClientAuth = m.pool, tls.VerifyClientCertIfGiven
			}
			return c, nil
		},
	}
}

// ClientConfig dials a peer: it verifies the peer's certificate for
// serverName (a DNS name or an IP) against the current CA bundle, or the
// system roots without one, and presents this node's certificate.
func (t *TLS) ClientConfig(serverName string) *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			m := t.f.Get()
			return &m.cert, nil
		},
	}
	if !t.HasCA() {
		return c
	}
	// The roots change with the CA file, so verification is done here
	// with the current ones rather than by crypto/tls with fixed RootCAs.
	c.InsecureSkipVerify = true
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		return VerifyServer(cs, t.f.Get().pool)
	}
	return c
}

// VerifyServer verifies a server's certificate chain for cs.ServerName
// against roots.
func VerifyServer(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: the server sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, DNSName: cs.ServerName, Intermediates: x509.NewCertPool(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return fmt.Errorf("tls: verify %s: %w", cs.ServerName, err)
	}
	return nil
}
