package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/creds"
)

// unmatchedRoute labels requests that matched no route, keeping the route
// label's values bounded.
const unmatchedRoute = "unmatched"

type httpMetrics struct {
	watches     prometheus.Gauge
	watchEvents prometheus.Counter
	watchResets prometheus.Counter
	inFlight    prometheus.Gauge
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	routes      map[string]bool // registered patterns; filled by New
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		watches: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "yzma_watch_streams", Help: "Watch streams open (GET /watch).",
		}),
		watchEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "yzma_watch_events_sent_total", Help: "Events written to watch streams (changes, states, resets).",
		}),
		watchResets: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "yzma_watch_resets_total", Help: "Watches reset to the current state: a cursor the change log no longer reaches, or a watcher that fell behind it.",
		}),
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
		for _, c := range []prometheus.Collector{m.inFlight, m.requests, m.duration, m.watches, m.watchEvents, m.watchResets} {
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

// authorize enforces Options.Auth: the health probes are open; /internal/*
// takes peers only (a verified client certificate or a peer secret), and
// refuses client tokens; every other route takes a client token, a
// read-only one for GET and HEAD only, or a peer's certificate.
func (s *server) authorize(next echo.HandlerFunc) echo.HandlerFunc {
	a := s.auth
	return func(c echo.Context) error {
		path := c.Path()
		switch path {
		case "/healthz", "/readyz":
			return next(c)
		}
		r := c.Request()
		peerCert := a.PeerCerts && r.TLS != nil && len(r.TLS.VerifiedChains) > 0
		if strings.HasPrefix(r.URL.Path, "/internal/") {
			return s.authorizePeer(c, next, peerCert)
		}
		if a.Tokens == nil || peerCert {
			return next(c)
		}
		tok, err := requestToken(r)
		if err != nil {
			return unauthorized(c, err.Error())
		}
		switch a.Tokens.Get().Role(tok) {
		case creds.RoleReadWrite:
			return next(c)
		case creds.RoleReadOnly:
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				return next(c)
			}
			return httpError(http.StatusForbidden, "read-only token: %s needs a read-write token", r.Method)
		}
		return unauthorized(c, "invalid bearer token")
	}
}

// authorizePeer lets a peer through to the data channel.
func (s *server) authorizePeer(c echo.Context, next echo.HandlerFunc, peerCert bool) error {
	a := s.auth
	if peerCert || a.Peers == nil && !a.PeerCerts && a.Tokens == nil {
		return next(c) // a verified peer, or nothing configured (loopback default)
	}
	r := c.Request()
	tok, err := requestToken(r)
	if err == nil && a.Peers != nil && a.Peers.Get().Valid(tok) {
		return next(c)
	}
	reason := "peer credential required: a client certificate from the cluster CA or the peer secret"
	code := http.StatusUnauthorized
	if err == nil && a.Tokens != nil && a.Tokens.Get().Role(tok) != creds.RoleNone {
		reason, code = "client tokens are not accepted on /internal/*: peers only", http.StatusForbidden
	}
	s.log.Warn("refused a request for peers", "path", r.URL.Path, "remote", r.RemoteAddr,
		"peer", r.Header.Get(api.PeerHeader), "reason", reason)
	if code == http.StatusUnauthorized {
		return unauthorized(c, reason)
	}
	return httpError(code, "%s", reason)
}

func unauthorized(c echo.Context, msg string) error {
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, "Bearer")
	return httpError(http.StatusUnauthorized, "%s", msg)
}

// requestToken is the bearer token of r's Authorization header or, without
// one, its api.TokenHeader.
func requestToken(r *http.Request) (string, error) {
	if h := r.Header.Get(echo.HeaderAuthorization); h != "" || r.Header.Get(api.TokenHeader) == "" {
		return bearerToken(h)
	}
	return strings.TrimSpace(r.Header.Get(api.TokenHeader)), nil
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
