package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ServeOptions configures Listen.
type ServeOptions struct {
	// TLSCertFile and TLSKeyFile, when both set, make the server speak HTTPS.
	TLSCertFile string
	TLSKeyFile  string
	Logger      *slog.Logger
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
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	if (opts.TLSCertFile == "") != (opts.TLSKeyFile == "") {
		return nil, errors.New("listen: TLS needs both a certificate and a key file")
	}
	if opts.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(opts.TLSCertFile, opts.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("listen: load TLS key pair: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
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
