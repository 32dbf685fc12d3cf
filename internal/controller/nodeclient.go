package controller

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/client"
)

// NodeClient reaches the HTTP API of a node pod. It is the reconciler's
// only way to the nodes, so tests can stand in for it.
type NodeClient interface {
	// Leave calls POST /cluster/leave: the node hands its data off and
	// leaves the cluster. It answers only once the hand-off is verified.
	Leave(ctx context.Context, t Target) (api.LeaveResult, error)
	// Members calls GET /cluster/members.
	Members(ctx context.Context, t Target) ([]api.Member, error)
	// Rejoin calls POST /cluster/join without peers: a node that left
	// rejoins the cluster through its seeds.
	Rejoin(ctx context.Context, t Target) error
}

// Target is one node pod.
type Target struct {
	Namespace string
	Pod       string
	IP        string // the pod IP
	Port      int32  // the HTTP API port
	Token     string // the API bearer token, if the cluster has one
	// CA is the PEM bundle the node's certificate must chain to; nil: the
	// node serves plain HTTP.
	CA []byte
	// ServerName is the name the node's certificate must hold, with CA:
	// the pod's DNS name.
	ServerName string
}

// PodAccess says how the manager reaches pods.
type PodAccess string

const (
	// PodAccessDirect dials the pod IP: the manager runs in the cluster.
	PodAccessDirect PodAccess = "direct"
	// PodAccessProxy goes through the API server's pod proxy: the manager
	// runs outside the cluster, e.g. on a laptop with a kubeconfig.
	PodAccessProxy PodAccess = "proxy"
)

// ErrNoPodIP means a pod has no IP yet, so it cannot be reached directly.
var ErrNoPodIP = errors.New("pod has no IP")

// ErrNoServerName means a Target has a CA but no server name to verify
// the node's certificate against.
var ErrNoServerName = errors.New("no server name to verify the node's certificate")

// maxTLSClients bounds HTTPNodeClient's clients by CA: one per cluster
// with TLS, more only while a CA is replaced. Past it they are all
// dropped and made again as needed.
const maxTLSClients = 256

// HTTPNodeClient is the real NodeClient, built on node/client.
//
// Directly, it calls a node over HTTPS when its Target has a CA, trusting
// only that CA and verifying the Target's server name (the pod's DNS
// name), with one http.Client (and so one connection pool) per CA. The
// URL holds the server name, so the standard verification checks it and
// a pooled connection is reused only for that name; the connection is
// dialled to the Target's pod IP, which reaches the dial through the
// request's context (the transport dials with its values), so that no
// DNS is needed (the manager may run where the pods' names do not
// resolve). An idle connection to a restarted pod's former IP goes when
// the old pod closes it, or fails one call, which the steps retry.
//
// Through the API server's pod proxy it asks the API server to use HTTPS
// (the "https:" prefix of the proxied pod); the API server does not verify
// the node's certificate, which is acceptable there: the manager trusts
// the API server, and the API server reaches the pod over the cluster's
// network as the kubelet does. The token goes in the X-Yzma-Token header
// there: the API server takes the Authorization header for itself (it
// authenticates the manager with it) and removes it before proxying.
type HTTPNodeClient struct {
	access PodAccess
	hc     *http.Client // plain HTTP (direct) or the API server's (proxy)
	host   string       // API server URL, for the proxy

	mu  sync.Mutex
	tls map[[sha256.Size]byte]*http.Client // direct HTTPS clients by CA bundle
}

// NewHTTPNodeClient returns a NodeClient that reaches pods as access says;
// cfg is the manager's API server configuration (used by the proxy).
func NewHTTPNodeClient(access PodAccess, cfg *rest.Config) (*HTTPNodeClient, error) {
	switch access {
	case PodAccessDirect:
		return &HTTPNodeClient{access: access, hc: &http.Client{}, tls: map[[sha256.Size]byte]*http.Client{}}, nil
	case PodAccessProxy:
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			return nil, fmt.Errorf("pod proxy client: %w", err)
		}
		host := cfg.Host
		if !strings.Contains(host, "://") {
			host = "https://" + host
		}
		return &HTTPNodeClient{access: access, hc: hc, host: strings.TrimSuffix(host, "/")}, nil
	default:
		return nil, fmt.Errorf("unknown pod access %q (want %s or %s)", access, PodAccessDirect, PodAccessProxy)
	}
}

// client is a node client for t, and the context its calls must use.
func (h *HTTPNodeClient) client(ctx context.Context, t Target) (*client.Client, context.Context, error) {
	var base string
	hc := h.hc
	opts := []client.Option{}
	switch h.access {
	case PodAccessProxy:
		pod := fmt.Sprintf("%s:%d", t.Pod, t.Port)
		if t.CA != nil {
			pod = "https:" + pod // see HTTPNodeClient: not verified
		}
		base = fmt.Sprintf("%s/api/v1/namespaces/%s/pods/%s/proxy", h.host, t.Namespace, pod)
		if t.Token != "" {
			opts = append(opts, client.WithTokenHeader(t.Token)) // Authorization is the API server's
		}
	default:
		if t.IP == "" {
			return nil, nil, fmt.Errorf("%s/%s: %w", t.Namespace, t.Pod, ErrNoPodIP)
		}
		port := strconv.Itoa(int(t.Port))
		base = "http://" + net.JoinHostPort(t.IP, port)
		if t.CA != nil {
			if t.ServerName == "" {
				return nil, nil, fmt.Errorf("%s/%s: %w", t.Namespace, t.Pod, ErrNoServerName)
			}
			var err error
			if hc, err = h.tlsClient(t.CA); err != nil {
				return nil, nil, fmt.Errorf("%s/%s: %w", t.Namespace, t.Pod, err)
			}
			base = "https://" + net.JoinHostPort(t.ServerName, port)
			ctx = context.WithValue(ctx, podIPKey{}, t.IP)
		}
		if t.Token != "" {
			opts = append(opts, client.WithBearerToken(t.Token))
		}
	}
	c, err := client.New(base, append(opts, client.WithHTTPClient(hc))...)
	return c, ctx, err
}

// podIPKey is the context key of the pod IP the HTTPS clients dial.
type podIPKey struct{}

// tlsClient is the HTTPS client that trusts only caPEM, made on first use.
func (h *HTTPNodeClient) tlsClient(caPEM []byte) (*http.Client, error) {
	sum := sha256.Sum256(caPEM)
	h.mu.Lock()
	defer h.mu.Unlock()
	if hc := h.tls[sum]; hc != nil {
		return hc, nil
	}
	pool, err := certPool(caPEM)
	if err != nil {
		return nil, fmt.Errorf("node CA: %w", err)
	}
	if len(h.tls) >= maxTLSClients {
		for k, hc := range h.tls {
			hc.CloseIdleConnections()
			delete(h.tls, k)
		}
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // dialled by pod IP, never through a proxy
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		ip, _ := ctx.Value(podIPKey{}).(string)
		_, port, err := net.SplitHostPort(addr)
		if ip == "" || err != nil {
			return nil, fmt.Errorf("dial %s: %w", addr, ErrNoPodIP)
		}
		return dialer.DialContext(ctx, network, net.JoinHostPort(ip, port))
	}
	hc := &http.Client{Transport: tr}
	h.tls[sum] = hc
	return hc, nil
}

// Leave implements NodeClient.
func (h *HTTPNodeClient) Leave(ctx context.Context, t Target) (api.LeaveResult, error) {
	c, ctx, err := h.client(ctx, t)
	if err != nil {
		return api.LeaveResult{}, err
	}
	return c.Leave(ctx)
}

// Members implements NodeClient.
func (h *HTTPNodeClient) Members(ctx context.Context, t Target) ([]api.Member, error) {
	c, ctx, err := h.client(ctx, t)
	if err != nil {
		return nil, err
	}
	return c.Members(ctx)
}

// Rejoin implements NodeClient.
func (h *HTTPNodeClient) Rejoin(ctx context.Context, t Target) error {
	c, ctx, err := h.client(ctx, t)
	if err != nil {
		return err
	}
	return c.Rejoin(ctx)
}
