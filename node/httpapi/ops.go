package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/yzma/yzma/node/api"
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

// errNoClustering answers the cluster endpoints until clustering lands.
var errNoClustering = httpError(http.StatusNotImplemented, "clustering is not implemented yet")

func (s *server) join(c echo.Context) error {
	var req api.JoinRequest
	if err := s.decodeJSON(c, &req, false); err != nil {
		return err
	}
	if len(req.Peers) == 0 {
		return httpError(http.StatusBadRequest, "Peers: give at least one host:port")
	}
	for i, p := range req.Peers {
		if err := checkPeer(p); err != nil {
			return httpError(http.StatusBadRequest, "Peers[%d]: %v", i, err)
		}
	}
	return errNoClustering
}

func (s *server) leave(c echo.Context) error {
	var req struct{}
	if err := s.decodeJSON(c, &req, true); err != nil {
		return err
	}
	return errNoClustering
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
