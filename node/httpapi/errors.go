package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/yzma/yzma/node"
	"github.com/yzma/yzma/node/cluster"
	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/store"
)

// toHTTPError gives every error a status and a message for the client.
// Echo's own 404 and 405 get messages naming what was asked.
func toHTTPError(err error, c echo.Context) *echo.HTTPError {
	r := c.Request()
	switch {
	case errors.Is(err, echo.ErrNotFound):
		return httpError(http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.EscapedPath())
	case errors.Is(err, echo.ErrMethodNotAllowed):
		return httpError(http.StatusMethodNotAllowed, "method %s not allowed on %s", r.Method, c.Path())
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		if _, ok := he.Message.(string); ok {
			return he
		}
		return httpError(he.Code, "%s", http.StatusText(he.Code))
	}
	return &echo.HTTPError{Code: http.StatusInternalServerError, Message: "internal error", Internal: err}
}

// httpError is an error answered with code and a formatted message.
func httpError(code int, format string, args ...any) *echo.HTTPError {
	return &echo.HTTPError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// retryAfterSeconds is the Retry-After of the 503s a client should simply
// retry: the node was overloaded or catching up.
const retryAfterSeconds = "1"

// retryable reports the errors answered with Retry-After.
func retryable(err error) bool {
	return errors.Is(err, store.ErrOverloaded) || errors.Is(err, node.ErrNotReady)
}

// storeError maps the node's errors to answers.
func storeError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return httpError(http.StatusNotFound, "key not found")
	case errors.Is(err, store.ErrEmptyKey), errors.Is(err, store.ErrKeyTooLong),
		errors.Is(err, store.ErrFutureContext), errors.Is(err, crdt.ErrBadContext):
		return httpError(http.StatusBadRequest, "%v", err)
	case errors.Is(err, store.ErrOverloaded):
		return &echo.HTTPError{Code: http.StatusServiceUnavailable, Message: "too many writes queued: retry later", Internal: err}
	case errors.Is(err, node.ErrNotReady):
		return &echo.HTTPError{Code: http.StatusServiceUnavailable, Message: "node is catching up with the cluster: retry later", Internal: err}
	case errors.Is(err, store.ErrClosed):
		return &echo.HTTPError{Code: http.StatusServiceUnavailable, Message: "node is shutting down", Internal: err}
	case errors.Is(err, cluster.ErrLeaving):
		return &echo.HTTPError{Code: http.StatusServiceUnavailable, Message: "node is leaving the cluster: write elsewhere", Internal: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &echo.HTTPError{Code: http.StatusServiceUnavailable, Message: "request cancelled", Internal: err}
	}
	return &echo.HTTPError{Code: http.StatusInternalServerError, Message: "internal error", Internal: err}
}
