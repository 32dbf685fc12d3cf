package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/yzma/yzma/node"
	"github.com/yzma/yzma/node/cluster"
	"github.com/yzma/yzma/node/config"
	"github.com/yzma/yzma/node/creds"
	"github.com/yzma/yzma/node/faultnet"
	"github.com/yzma/yzma/node/httpapi"
)

// shutdownGrace bounds how long in-flight requests may take after a signal.
const shutdownGrace = 30 * time.Second

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// run is the whole program; it returns the exit code once ctx ends or the
// node fails.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stderr io.Writer) int {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "JSON config `file` (default: defaults and environment only)")
	var join peerList
	fs.Var(&join, "j", "peer `host:port` to join; repeatable or comma-separated")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	pprofAddr := fs.String("pprof", "", "serve Go's profiles (net/http/pprof) on this `host:port`, e.g. 127.0.0.1:6060; empty: none")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "node: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return exitUsage
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return exitUsage
	}
	tuneGC(lookupEnv, os.ReadFile, log)
	cfg, err := config.LoadWith(*cfgPath, lookupEnv)
	if err == nil && len(join) > 0 {
		cfg.Peering.Join = append(cfg.Peering.Join, join...)
		err = cfg.Validate()
	}
	if err != nil {
		log.Error("bad configuration", "err", err)
		return exitError
	}
	if *pprofAddr != "" {
		_, stop, err := servePprof(*pprofAddr, log)
		if err != nil {
			log.Error("profiling endpoint", "err", err)
			return exitError
		}
		defer stop()
	}
	faultsFile, _ := lookupEnv(faultnet.EnvFile) // test-only network faults
	if err := serve(ctx, cfg, log, faultsFile); err != nil {
		log.Error("node failed", "err", err)
		return exitError
	}
	return exitOK
}

// serve runs the node and its API until ctx ends, then shuts both down.
// A non-empty faultsFile filters the node's network through that test
// fault rules file (package faultnet).
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, faultsFile string) (err error) {
	cr, err := cfg.LoadCredentials()
	if err != nil {
		return err
	}
	for _, hole := range cfg.Insecure() {
		log.Warn("INSECURE: "+hole+"; see the README's Security section", "api", cfg.API.Bind, "gossip", cfg.Peering.BindAddr)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	ccfg := clusterConfig(cfg, cr)
	if faultsFile != "" {
		if err := enableFaults(ccfg, faultsFile, log); err != nil {
			return err
		}
	}
	n, err := node.Open(node.Options{DBPath: cfg.Server.DBPath, Logger: log, Registerer: reg, Cluster: ccfg,
		MaxQueuedWrites: cfg.Server.MaxQueuedWrites, MaxQueuedBytes: cfg.Server.MaxQueuedBytes})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := n.Close(); cerr != nil {
			err = errors.Join(err, cerr)
			return
		}
		log.Info("data file closed", "path", cfg.Server.DBPath)
	}()
	log.Info("node started", "node_id", n.ID().String(), "name", cfg.Peering.Name, "db", cfg.Server.DBPath)

	h, err := httpapi.New(n, httpapi.Options{
		MaxBodyBytes: cfg.API.MaxBodyBytes, Registerer: reg, Gatherer: reg, Logger: log,
		Auth:             httpapi.Auth{Tokens: cr.Tokens, Peers: cr.Peer, PeerCerts: cr.TLS != nil && cr.TLS.HasCA()},
		MaxPendingWrites: cfg.Server.MaxQueuedWrites,
	})
	if err != nil {
		return err
	}
	// 0 in the configuration turns a timeout off; in ServeOptions that is
	// a negative one (0 there means the default).
	timeout := func(d config.Duration) time.Duration {
		if d == 0 {
			return -1
		}
		return d.Std()
	}
	srv, err := httpapi.Listen(cfg.API.Bind, h, httpapi.ServeOptions{
		TLS: cr.TLS, Logger: log,
		ReadHeaderTimeout: timeout(cfg.API.ReadHeaderTimeout), ReadTimeout: timeout(cfg.API.ReadTimeout),
		IdleTimeout: timeout(cfg.API.IdleTimeout),
	})
	if err != nil {
		return err
	}
	log.Info("http api listening", "addr", srv.Addr().String(), "url", srv.URL(),
		"client_auth", cfg.ClientAuth(), "peer_auth", cfg.PeerAuth(), "tls_ca", cfg.API.TLSCAFile != "")
	go watchCredentials(ctx, log, cr)
	if err := n.SetAPIAddr(apiAddr(cfg.Peering, srv.Addr())); err != nil {
		return err
	}
	if len(cfg.Peering.Join) > 0 || cfg.Peering.SeedDNS != "" {
		log.Info("joining peers", "peers", cfg.Peering.Join, "seed_dns", cfg.Peering.SeedDNS, "dns_server", cfg.Peering.DNSServer)
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	// Join while serving: /readyz answers 503 until the node has caught up.
	go func() {
		switch err := n.Join(ctx); {
		case err == nil || ctx.Err() != nil:
		case errors.Is(err, node.ErrLeft): // said at start; it waits for a rejoin
			log.Info("not joining: this node has left the cluster")
		default:
			log.Error("joining the cluster failed", "error", err)
		}
	}()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	return errors.Join(srv.Shutdown(sctx), <-served)
}

// newLogger logs to w as JSON, or as text when w is a terminal.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// peerList collects -j values, each one or more comma-separated host:port.
type peerList []string

func (p *peerList) String() string { return strings.Join(*p, ",") }

func (p *peerList) Set(v string) error {
	peers := config.SplitList(v)
	if len(peers) == 0 {
		return errors.New("empty peer list")
	}
	*p = append(*p, peers...)
	return nil
}

// clusterConfig maps the configuration to the cluster's.
func clusterConfig(cfg config.Config, cr config.Credentials) *cluster.Config {
	p := cfg.Peering
	var resolver *net.Resolver // nil: the system's
	if p.DNSServer != "" {
		resolver = cluster.DNSResolver(p.DNSServer)
	}
	return &cluster.Config{
		Name: p.Name, BindAddr: p.BindAddr, BindPort: p.BindPort,
		AdvertiseAddr: p.AdvertiseAddress, AdvertisePort: p.AdvertisePort,
		Seeds: p.Join, SeedDNS: p.SeedDNS, Resolver: resolver, GossipKeys: cr.GossipKeys,
		APIName: cfg.API.AdvertiseName, APITLS: cr.TLS != nil,
		JoinTimeout: p.JoinTimeout.Std(), DeadGrace: p.DeadMemberGrace.Std(), MaxLogBytes: p.MaxLogBytes,
		Transport: &cluster.HTTPTransport{TLS: cr.TLS, Peer: cr.Peer, Name: p.Name, Source: sourceIP(cfg)},
	}
}

// sourceIP is the local address calls to peers leave from: the host the
// API is advertised on, when it is an address of this machine.
func sourceIP(cfg config.Config) net.IP {
	apiHost, _, _ := net.SplitHostPort(cfg.API.Bind)
	ip := net.ParseIP(advertiseHost(cfg.Peering, apiHost))
	if ip == nil || ip.IsUnspecified() {
		return nil
	}
	if ip.IsLoopback() {
		return ip
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return ip
		}
	}
	return nil
}

func unspecifiedHost(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}

// watchCredentials reports, every credentialCheck until ctx ends, the
// credential files that a reload could not use (the previous values stay
// in force meanwhile).
func watchCredentials(ctx context.Context, log *slog.Logger, cr config.Credentials) {
	t := time.NewTicker(credentialCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, c := range []struct {
			name string
			err  func() error
		}{
			{"client tokens", errOf(cr.Tokens)},
			{"peer secrets", errOf(cr.Peer)},
			{"gossip keys", errOf(cr.GossipKeys)},
			{"TLS certificate, key or CA", func() error {
				if cr.TLS == nil {
					return nil
				}
				return cr.TLS.Err()
			}},
		} {
			if err := c.err(); err != nil {
				log.Warn("credentials could not be reloaded: the previous ones stay in use", "credentials", c.name, "error", err)
			}
		}
	}
}

// credentialCheck is how often unusable credential files are reported.
const credentialCheck = 30 * time.Second

func errOf[T any](f *creds.File[T]) func() error {
	return func() error {
		if f == nil {
			return nil
		}
		return f.Err()
	}
}

// apiAddr is where peers reach the HTTP API listening on listen: the
// advertised gossip address (or the gossip bind address, or the API's own
// host when that is unspecified) with the API's port.
func apiAddr(p config.Peering, listen net.Addr) string {
	apiHost, apiPort, _ := net.SplitHostPort(listen.String())
	return net.JoinHostPort(advertiseHost(p, apiHost), apiPort)
}

// advertiseHost is the host peers reach the API on: the advertised gossip
// address, or the gossip bind address, or the API's own host when that is
// unspecified.
func advertiseHost(p config.Peering, apiHost string) string {
	host := p.AdvertiseAddress
	if unspecifiedHost(host) {
		host = p.BindAddr
	}
	if unspecifiedHost(host) {
		host = apiHost
	}
	return host
}
