package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/yzma/yzma/node/api"
)

// digest serves GET /cluster/digest: a hash of the node's whole key state
// and its live keys, so that tests (and operators) can tell converged
// replicas apart from diverged ones. It works standalone too.
func (s *server) digest(c echo.Context) error {
	d, err := s.node.Digest()
	if err != nil {
		return storeError(err)
	}
	st, err := s.node.Store().Stats()
	if err != nil {
		return storeError(err)
	}
	return respond(c, http.StatusOK, api.Digest{Digest: d, Keys: st.Keys})
}
