package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSFiles name the PEM files of an HTTPS client: the CA bundle that
// verifies the node (empty: the system roots), and a client certificate
// and key (both or neither; a node takes one from its CA as a peer's or an
// administrator's credential). ServerName, when set, is the name the
// node's certificate must hold instead of the URL's host (a pod reached by
// IP but certified by its DNS name).
type TLSFiles struct {
	CA, Cert, Key string
	ServerName    string
}

// Config builds the tls.Config the files describe.
func (f TLSFiles) Config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("client: CA bundle: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client: CA bundle %s holds no PEM certificate", f.CA)
		}
	}
	switch {
	case f.Cert != "" && f.Key != "":
		kp, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("client: certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{kp}
	case f.Cert != "" || f.Key != "":
		return nil, errors.New("client: a client certificate needs both --cert and --key")
	}
	return c, nil
}
