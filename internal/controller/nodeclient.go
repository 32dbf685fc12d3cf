package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

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

// HTTPNodeClient is the real NodeClient, built on node/client.
type HTTPNodeClient struct {
	access PodAccess
	hc     *http.Client
	host   string // API server URL, for the proxy
}

// NewHTTPNodeClient returns a NodeClient that reaches pods as access says;
// cfg is the manager's API server configuration (used by the proxy).
func NewHTTPNodeClient(access PodAccess, cfg *rest.Config) (*HTTPNodeClient, error) {
	switch access {
	case PodAccessDirect:
		return &HTTPNodeClient{access: access, hc: &http.Client{}}, nil
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

func (h *HTTPNodeClient) client(t Target) (*client.Client, error) {
	var base string
	switch h.access {
	case PodAccessProxy:
		base = fmt.Sprintf("%s/api/v1/namespaces/%s/pods/%s:%d/proxy", h.host, t.Namespace, t.Pod, t.Port)
	default:
		if t.IP == "" {
			return nil, fmt.Errorf("%s/%s: %w", t.Namespace, t.Pod, ErrNoPodIP)
		}
		base = "http://" + net.JoinHostPort(t.IP, strconv.Itoa(int(t.Port)))
	}
	opts := []client.Option{client.WithHTTPClient(h.hc)}
	if t.Token != "" {
		opts = append(opts, client.WithBearerToken(t.Token))
	}
	return client.New(base, opts...)
}

// Leave implements NodeClient.
func (h *HTTPNodeClient) Leave(ctx context.Context, t Target) (api.LeaveResult, error) {
	c, err := h.client(t)
	if err != nil {
		return api.LeaveResult{}, err
	}
	return c.Leave(ctx)
}

// Members implements NodeClient.
func (h *HTTPNodeClient) Members(ctx context.Context, t Target) ([]api.Member, error) {
	c, err := h.client(t)
	if err != nil {
		return nil, err
	}
	return c.Members(ctx)
}

// Rejoin implements NodeClient.
func (h *HTTPNodeClient) Rejoin(ctx context.Context, t Target) error {
	c, err := h.client(t)
	if err != nil {
		return err
	}
	return c.Rejoin(ctx)
}
