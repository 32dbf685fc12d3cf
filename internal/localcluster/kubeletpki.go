package localcluster

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/yzma/yzma/internal/pki"
)

// kubeletPKI is how the API server and the kubelet's HTTPS port (logs,
// exec, port-forward) prove themselves to each other, as on a real
// cluster: a CA of the local cluster's own signs the kubelet's serving
// certificate (the API server verifies it, --kubelet-certificate-authority)
// and the API server's client certificate (the kubelet requires it), so
// no other process on the machine that finds the port can exec into a pod.
type kubeletPKI struct {
	serving tls.Certificate
	clients *x509.CertPool
	// The API server's flags, files under the control plane's pki.
	caFile, clientCertFile, clientKeyFile string
}

// kubeletPKILifetime covers any run of a local cluster.
const kubeletPKILifetime = 365 * 24 * time.Hour

// newKubeletPKI makes the CA and both certificates, and writes what the
// API server reads into dir.
func newKubeletPKI(dir string) (*kubeletPKI, error) {
	now := time.Now()
	ca, err := pki.NewCA(pki.Subject{CommonName: "localcluster-kubelet-ca"}, now, kubeletPKILifetime)
	if err != nil {
		return nil, fmt.Errorf("kubelet CA: %w", err)
	}
	serving, err := ca.Issue(pki.Subject{CommonName: "localcluster-kubelet", DNSNames: []string{"localhost"},
		IPs: []net.IP{net.ParseIP(hostIP)}, Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, now, kubeletPKILifetime)
	if err != nil {
		return nil, fmt.Errorf("kubelet serving certificate: %w", err)
	}
	client, err := ca.Issue(pki.Subject{CommonName: "kube-apiserver-kubelet-client", Organization: "system:masters",
		Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, now, kubeletPKILifetime)
	if err != nil {
		return nil, fmt.Errorf("API server's kubelet client certificate: %w", err)
	}
	p := &kubeletPKI{serving: serving.TLS(), clients: ca.Pool(),
		caFile:         filepath.Join(dir, "kubelet-ca.crt"),
		clientCertFile: filepath.Join(dir, "apiserver-kubelet-client.crt"),
		clientKeyFile:  filepath.Join(dir, "apiserver-kubelet-client.key"),
	}
	for path, data := range map[string][]byte{p.caFile: ca.CertPEM, p.clientCertFile: client.CertPEM, p.clientKeyFile: client.KeyPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// serverConfig is the kubelet port's TLS: its certificate, and a client
// certificate from the CA required of every caller.
func (p *kubeletPKI) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.serving}, ClientCAs: p.clients,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
}
