package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// unmatchedRoute labels requests that matched no route, keeping the route
// label's values bounded.
const unmatchedRoute = "unmatched"

type httpMetrics struct {
	inFlight prometheus.Gauge
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	routes   map[string]bool // registered patterns; filled by New
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "yzma_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "yzma_http_requests_total", Help: "HTTP requests answered, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "yzma_http_request_duration_seconds", Help: "Time to answer an HTTP request, by method and route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"method", "route"}),
		routes: map[string]bool{},
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.inFlight, m.requests, m.duration} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register HTTP metrics: %w", err)
			}
		}
	}
	return m, nil
}

// instrument answers errors here (rather than after the chain) so that it
// can record the final status code.
func (s *server) instrument(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		s.metrics.inFlight.Inc()
		defer s.metrics.inFlight.Dec()
		if err := next(c); err != nil {
			c.Error(err)
		}
		route := c.Path()
		if !s.metrics.routes[route] {
			route = unmatchedRoute
		}
		method := c.Request().Method
		s.metrics.requests.WithLabelValues(method, route, strconv.Itoa(c.Response().Status)).Inc()
		s.metrics.duration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
		return nil
	}
}

// recoverPanics turns a panic into a 500 answer.
func (s *server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler { //nolint:errorlint // sentinel value, compared as net/http does
				panic(p)
			}
			s.log.Error("panic serving request", "panic", p, "stack", string(debug.Stack()))
			err = &echo.HTTPError{Code: http.StatusInternalServerError, Message: "internal error",
				Internal: fmt.Errorf("panic: %v", p)}
		}()
		return next(c)
	}
}

// requireToken demands "Authorization: Bearer <token>" on every route but
// the health probes.
func requireToken(token string) echo.MiddlewareFunc {
	want := sha256.Sum256([]byte(token))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			switch c.Path() {
			case "/healthz", "/readyz":
				return next(c)
			}
			got, err := bearerToken(c.Request().Header.Get(echo.HeaderAuthorization))
			if err == nil {
				sum := sha256.Sum256([]byte(got))
				if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
					err = errors.New("invalid bearer token")
				}
			}
			if err != nil {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, "Bearer")
				return httpError(http.StatusUnauthorized, "%v", err)
			}
			return next(c)
		}
	}
}

func bearerToken(header string) (string, error) {
	if header == "" {
		return "", errors.New("missing bearer token: send Authorization: Bearer <token>")
	}
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", errors.New("malformed Authorization header: want Bearer <token>")
	}
	return strings.TrimSpace(tok), nil
}
