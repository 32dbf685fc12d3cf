package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/yzma/yzma/node/creds"
)

// The server's timeouts when ServeOptions leaves them zero.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
)

// ServeOptions configures Listen.
//
// The timeouts protect the server from clients that hold connections open
// without finishing a request (slowloris). Zero means the default, negative
// means none. There is deliberately no write timeout: it would cut off long
// but legitimate answers, a snapshot streamed to a joining peer or a POST
// /cluster/leave that waits for the hand-off, which may take minutes (TCP
// keep-alives still drop connections to peers that are gone). ReadTimeout
// must leave time for the largest body at the slowest expected client:
// a peer's push of up to 64 MiB, or Options.MaxBodyBytes.
type ServeOptions struct {
	// TLS, when set, makes the server speak HTTPS with its certificate,
	// re-read when its files change; with a CA, client certificates are
	// verified (see creds.TLS.ServerConfig).
	TLS *creds.TLS
	// ReadHeaderTimeout bounds reading a request's line and headers; when
	// negative only ReadTimeout bounds them.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading the whole request, from its first byte to
	// the end of its body; the handler may then take its time.
	ReadTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request.
	IdleTimeout time.Duration
	Logger      *slog.Logger
}

// orDefault is d, or def when d is zero.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Server serves a handler over HTTP or HTTPS with graceful shutdown.
type Server struct {
	srv *http.Server
	ln  net.Listener
	tls bool
}

// Listen binds addr (host:port; port 0 picks a free one) and prepares to
// serve h. It fails early on an unusable address or TLS key pair.
func Listen(addr string, h http.Handler, opts ServeOptions) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	// http.Server reads a negative timeout as none, and a zero
	// ReadHeaderTimeout or IdleTimeout as ReadTimeout's: headers whose own
	// timeout is off are still bounded by ReadTimeout, idle connections are
	// not.
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: max(orDefault(opts.ReadHeaderTimeout, DefaultReadHeaderTimeout), 0),
		ReadTimeout:       orDefault(opts.ReadTimeout, DefaultReadTimeout),
		IdleTimeout:       orDefault(opts.IdleTimeout, DefaultIdleTimeout),
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	if opts.TLS != nil {
		srv.TLSConfig = opts.TLS.ServerConfig()
	}
	if sc, ok := h.(interface{ closeStreams() }); ok {
		srv.RegisterOnShutdown(sc.closeStreams) // Shutdown does not wait for streams to end by themselves
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return &Server{srv: srv, ln: ln, tls: srv.TLSConfig != nil}, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the base URL of the bound address.
func (s *Server) URL() string {
	scheme := "http"
	if s.tls {
		scheme = "https"
	}
	return scheme + "://" + s.ln.Addr().String()
}

// Serve serves until Shutdown; it then returns nil.
func (s *Server) Serve() error {
	var err error
	if s.tls {
		err = s.srv.ServeTLS(s.ln, "", "")
	} else {
		err = s.srv.Serve(s.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve: %w", err)
}

// Shutdown stops accepting connections and waits, until ctx ends, for the
// requests in flight to be answered.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	_ = s.ln.Close() // in case Serve never ran; Shutdown closed it otherwise
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
