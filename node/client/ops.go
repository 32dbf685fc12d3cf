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

// Join asks the node to join the members at peers (host:port). Without
// peers it is Rejoin. A node that has left the cluster refuses a join with
// peers (409): it only rejoins.
func (c *Client) Join(ctx context.Context, peers []string) error {
	body, h, err := jsonBody(api.JoinRequest{Peers: peers})
	if err != nil {
		return err
	}
	_, err = c.call(ctx, request{method: http.MethodPost, path: "/cluster/join", body: body, headers: h}, nil)
	return err
}

// Rejoin asks a node that has left its cluster to become a member again
// (POST /cluster/join without peers): it forgets that it left, joins
// through its configured seeds and catches up. It returns once the node is
// ready; on a node that has not left it changes nothing.
func (c *Client) Rejoin(ctx context.Context) error {
	_, err := c.call(ctx, request{method: http.MethodPost, path: "/cluster/join"}, nil)
	return err
}

// Leave asks the node to hand its data off and leave its cluster. It
// returns once the node has left. On a node that has left already (even
// before a restart: it records it) it returns the same result again, and
// the node announces its leave to its peers once more.
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
