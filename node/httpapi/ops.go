package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/yzma/yzma/node"
	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/cluster"
	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/store"
)

func (s *server) healthz(c echo.Context) error {
	return respond(c, http.StatusOK, nil)
}

func (s *server) readyz(c echo.Context) error {
	if err := s.node.Ready(); err != nil {
		return httpError(http.StatusServiceUnavailable, "%v", err)
	}
	return respond(c, http.StatusOK, nil)
}

// clusterError maps the node's cluster errors to statuses.
func clusterError(err error) error {
	switch {
	case errors.Is(err, node.ErrStandalone):
		return httpError(http.StatusNotImplemented, "%v", err)
	case errors.Is(err, cluster.ErrNoPeers):
		return httpError(http.StatusConflict, "%v", err)
	case errors.Is(err, node.ErrLeft):
		return httpError(http.StatusConflict, "%v: POST /cluster/join without peers to rejoin", node.ErrLeft)
	case errors.Is(err, cluster.ErrHandOff):
		return httpError(http.StatusServiceUnavailable, "%v", err)
	case errors.Is(err, cluster.ErrClosed), errors.Is(err, store.ErrClosed):
		return &echo.HTTPError{Code: http.StatusServiceUnavailable, Message: "node is shutting down", Internal: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &echo.HTTPError{Code: http.StatusServiceUnavailable, Message: "request cancelled", Internal: err}
	}
	return httpError(http.StatusInternalServerError, "%v", err)
}

// join joins the given peers or, without any (no body, {} or no Peers),
// makes a node that left rejoin through its configured seeds (a no-op on a
// member). Either answers the members once the node caught up.
func (s *server) join(c echo.Context) error {
	var req api.JoinRequest
	if err := s.decodeJSON(c, &req, true); err != nil {
		return err
	}
	if len(req.Peers) == 0 {
		if err := s.node.Rejoin(c.Request().Context()); err != nil {
			return clusterError(err)
		}
		return s.members(c)
	}
	for i, p := range req.Peers {
		if err := checkPeer(p); err != nil {
			return httpError(http.StatusBadRequest, "Peers[%d]: %v", i, err)
		}
	}
	if err := s.node.Join(c.Request().Context(), req.Peers...); err != nil {
		return clusterError(err)
	}
	return s.members(c)
}

func (s *server) leave(c echo.Context) error {
	var req struct{}
	if err := s.decodeJSON(c, &req, true); err != nil {
		return err
	}
	res, err := s.node.Leave(c.Request().Context())
	if err != nil {
		return clusterError(err)
	}
	return respond(c, http.StatusOK, api.LeaveResult{VersionVector: vvJSON(res.VersionVector), Peers: peersJSON(res.Peers)})
}

func (s *server) members(c echo.Context) error {
	ms, err := s.node.Members()
	if err != nil {
		return clusterError(err)
	}
	out := api.Members{Members: make([]api.Member, len(ms))}
	for i, m := range ms {
		out.Members[i] = api.Member(m)
	}
	return respond(c, http.StatusOK, out)
}

func vvJSON(vv crdt.VersionVector) map[string]uint64 {
	out := make(map[string]uint64, len(vv))
	for id, n := range vv {
		out[id.String()] = n
	}
	return out
}

func peersJSON(peers map[string]crdt.VersionVector) map[string]map[string]uint64 {
	out := make(map[string]map[string]uint64, len(peers))
	for name, vv := range peers {
		out[name] = vvJSON(vv)
	}
	return out
}

// decodeJSON reads one JSON object into v, rejecting unknown fields and
// trailing data. An empty body is accepted only when optional.
func (s *server) decodeJSON(c echo.Context, v any, optional bool) error {
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return httpError(http.StatusBadRequest, "missing JSON body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return httpError(http.StatusBadRequest, "malformed JSON body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return httpError(http.StatusBadRequest, "malformed JSON body: data after the object")
	}
	return nil
}

func checkPeer(p string) error {
	host, port, err := net.SplitHostPort(p)
	if err != nil {
		return fmt.Errorf("%q is not host:port", p)
	}
	if n, err := strconv.Atoi(port); host == "" || err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q is not host:port", p)
	}
	return nil
}
