package client

import (
	"context"
	"net/http"

	"github.com/yzma/yzma/node/api"
)

// Healthz reports nil while the node's process serves.
func (c *Client) Healthz(ctx context.Context) error {
	_, err := c.call(ctx, request{method: http.MethodGet, path: "/healthz"}, nil)
	return err
}

// Readyz reports nil when the node is ready to serve reads and writes.
func (c *Client) Readyz(ctx context.Context) error {
	_, err := c.call(ctx, request{method: http.MethodGet, path: "/readyz"}, nil)
	return err
}

// Join asks the node to join the members at peers (host:port).
func (c *Client) Join(ctx context.Context, peers []string) error {
	body, h, err := jsonBody(api.JoinRequest{Peers: peers})
	if err != nil {
		return err
	}
	_, err = c.call(ctx, request{method: http.MethodPost, path: "/cluster/join", body: body, headers: h}, nil)
	return err
}

// Leave asks the node to hand its data off and leave its cluster. It
// returns once the node has left (again, if it already had).
func (c *Client) Leave(ctx context.Context) (api.LeaveResult, error) {
	var res api.LeaveResult
	_, err := c.call(ctx, request{method: http.MethodPost, path: "/cluster/leave"}, &res)
	return res, err
}

// Members lists the cluster's members as the node sees them.
func (c *Client) Members(ctx context.Context) ([]api.Member, error) {
	var res api.Members
	_, err := c.call(ctx, request{method: http.MethodGet, path: "/cluster/members"}, &res)
	return res.Members, err
}

// Digest returns the node's state digest; replicas that converged report
// the same one.
func (c *Client) Digest(ctx context.Context) (api.Digest, error) {
	var res api.Digest
	_, err := c.call(ctx, request{method: http.MethodGet, path: "/cluster/digest"}, &res)
	return res, err
}
