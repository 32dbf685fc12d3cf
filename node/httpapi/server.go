package httpapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/yzma/yzma/node"
	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/creds"
)

// Options configures the API.
type Options struct {
	// MaxBodyBytes is the largest accepted request body; zero means
	// api.DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxRestoreBytes is the largest backup POST /restore takes; zero
	// means api.DefaultMaxRestoreBytes.
	MaxRestoreBytes int64
	// Auth says who may call what; zero: everyone everything.
	Auth Auth
	// AuthToken, when set, is a read-write client token: shorthand for
	// Auth.Tokens holding only it.
	AuthToken string
	// Registerer receives the HTTP metrics; nil registers none.
	Registerer prometheus.Registerer
	// MaxPendingWrites bounds the write requests waiting to be served (at
	// most 512 are served at once); past it a write is answered 503 with
	// Retry-After at once. Zero means 4096.
	MaxPendingWrites int
	// WatchHeartbeat is how often an idle watch stream gets a heartbeat;
	// zero means 15s.
	WatchHeartbeat time.Duration
	// Gatherer is served on /metrics; nil serves no /metrics.
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
}

// Auth holds the credentials the API checks (package creds); nil fields
// are not configured. With none at all, everything is open (the loopback
// default); with client tokens but no peer credential, /internal/* takes
// nobody.
type Auth struct {
	// Tokens are the client tokens; nil: client routes need none.
	Tokens *creds.File[creds.Tokens]
	// Peers are the peer secrets accepted on /internal/*.
	Peers *creds.File[creds.Secrets]
	// PeerCerts: a client certificate the TLS server verified (against its
	// CA) is a peer, on /internal/* and everywhere else.
	PeerCerts bool
}

type server struct {
	auth           Auth
	node           *node.Node
	maxBody        int64
	maxRestore     int64
	writes         *writeGate
	log            *slog.Logger
	metrics        *httpMetrics
	watchHeartbeat time.Duration
	closing        chan struct{} // closed when the server shuts down: streams end
	closeOnce      sync.Once
}

// handler is the API: echo's router, and what ends its streams when the
// server shuts down (Listen registers it), since a watch never finishes
// by itself.
type handler struct {
	*echo.Echo
	s *server
}

func (h *handler) closeStreams() { h.s.closeOnce.Do(func() { close(h.s.closing) }) }

// New returns the API's handler for n.
func New(n *node.Node, opts Options) (http.Handler, error) {
	if opts.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("httpapi: negative MaxBodyBytes %d", opts.MaxBodyBytes)
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = api.DefaultMaxBodyBytes
	}
	if opts.MaxRestoreBytes <= 0 {
		opts.MaxRestoreBytes = api.DefaultMaxRestoreBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxPendingWrites <= 0 {
		opts.MaxPendingWrites = 4096
	}
	m, err := newHTTPMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	if opts.AuthToken != "" {
		opts.Auth.Tokens = creds.Static(creds.TokensOf(opts.AuthToken))
	}
	if opts.WatchHeartbeat <= 0 {
		opts.WatchHeartbeat = 15 * time.Second
	}
	s := &server{auth: opts.Auth, node: n, maxBody: opts.MaxBodyBytes, maxRestore: opts.MaxRestoreBytes, log: opts.Logger, metrics: m, writes: newWriteGate(opts.MaxPendingWrites),
		watchHeartbeat: opts.WatchHeartbeat, closing: make(chan struct{})}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.instrument, s.recoverPanics)
	e.Use(s.authorize)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if opts.Gatherer != nil {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{})))
	}
	e.GET("/keys", s.listKeys)
	e.GET("/keys/*", s.getKey)
	e.PUT("/keys/*", s.putKey)
	e.POST("/keys/*", s.putKey)
	e.DELETE("/keys/*", s.deleteKey)
	e.POST("/cluster/join", s.join)
	e.POST("/cluster/leave", s.leave)
	e.GET("/cluster/members", s.members)
	e.GET("/cluster/digest", s.digest)
	e.GET("/watch", s.watch)
	e.GET("/backup", s.backup)
	e.POST("/restore", s.restore)
	if h := n.PeerHandler(); h != nil {
		e.Any("/internal/*", echo.WrapHandler(h))
	}
	for _, r := range e.Routes() {
		m.routes[r.Path] = true
	}
	return &handler{Echo: e, s: s}, nil
}

// okNoData is the answer of every successful write, encoded once:
// {"Status":"ok","Error":""}.
var okNoData = func() []byte {
	b, err := json.Marshal(api.Envelope{Status: api.StatusOK})
	if err != nil {
		panic(err)
	}
	return b
}()

// respond writes an ok envelope around data (nil: no Data).
func respond(c echo.Context, code int, data any) error {
	if data == nil {
		return c.JSONBlob(code, okNoData)
	}
	return writeEnvelope(c, code, api.Envelope{Status: api.StatusOK, Data: data})
}

// writeEnvelope encodes fully before writing, so an encoding failure never
// leaves a partial answer.
func writeEnvelope(c echo.Context, code int, env api.Envelope) error {
	b, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("encode answer: %w", err)
	}
	return c.JSONBlob(code, b)
}

// handleError answers err in an error envelope.
func (s *server) handleError(err error, c echo.Context) {
	he := toHTTPError(err, c)
	if he.Code == http.StatusInternalServerError || he.Internal != nil {
		level := slog.LevelWarn // e.g. the node closing under a request
		if he.Code == http.StatusInternalServerError {
			level = slog.LevelError
		}
		s.log.Log(c.Request().Context(), level, "request failed", "method", c.Request().Method,
			"path", c.Request().URL.EscapedPath(), "code", he.Code, "err", err)
	}
	if c.Response().Committed {
		return
	}
	if retryable(err) {
		c.Response().Header().Set("Retry-After", retryAfterSeconds)
	}
	msg, _ := he.Message.(string)
	if err := writeEnvelope(c, he.Code, api.Envelope{Status: api.StatusError, Error: msg}); err != nil {
		s.log.Error("write error answer", "err", err)
	}
}
