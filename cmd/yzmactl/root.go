package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/yzma/yzma/node/client"
	"github.com/yzma/yzma/node/creds"
)

// Exit codes.
const (
	exitOK       = 0
	exitNotFound = 1
	exitError    = 2
)

const defaultServer = "http://127.0.0.1:8080"

// localServer is the default server: the node whose configuration the
// environment holds, as in `kubectl exec POD -- /yzmactl`, where the node's
// YZMA_API_BIND (e.g. ":8080") and, on a host that gives each pod its own
// loopback address (the local cluster), YZMA_BIND_HOST say where it
// listens, over HTTPS when YZMA_TLS_CERT_FILE is set; else defaultServer.
func localServer(lookupEnv func(string) (string, bool)) string {
	bind, _ := lookupEnv("YZMA_API_BIND")
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return defaultServer
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host, _ = lookupEnv("YZMA_BIND_HOST")
	}
	if host == "" {
		host = "127.0.0.1"
	}
	scheme := "http"
	if cert, _ := lookupEnv("YZMA_TLS_CERT_FILE"); cert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// localToken is the default token in a node's container: the node's own
// YZMA_AUTH_TOKEN, or the first read-write token of its YZMA_AUTH_TOKEN_FILE.
func localToken(lookupEnv func(string) (string, bool)) string {
	if tok, _ := lookupEnv("YZMA_AUTH_TOKEN"); tok != "" {
		return tok
	}
	file, _ := lookupEnv("YZMA_AUTH_TOKEN_FILE")
	if file == "" {
		return ""
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	tok, _ := creds.FirstReadWrite(raw)
	return tok
}

// globals are the flags every command shares.
type globals struct {
	server    string
	token     string
	timeout   time.Duration
	tls       client.TLSFiles
	dnsServer string // host:port; empty: the system's resolver
}

// client builds the API client the flags describe.
func (g *globals) client() (*client.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if strings.HasPrefix(g.server, "https:") {
		cfg, err := g.tls.Config()
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = cfg
	}
	if g.dnsServer != "" {
		tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, Resolver: dnsResolver(g.dnsServer)}).DialContext
	}
	hc := &http.Client{Timeout: g.timeout, Transport: tr}
	return client.New(g.server, client.WithBearerToken(g.token), client.WithHTTPClient(hc))
}

// dnsResolver sends every query to server, as the node does with its
// YZMA_DNS_SERVER (cluster.DNSResolver): on the local Kubernetes, where a
// container's names are served by the kubelet's own DNS server.
func dnsResolver(server string) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		},
	}
}

// execute runs the command line and returns the exit code.
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer,
	lookupEnv func(string) (string, bool)) int {
	root := newRootCmd(lookupEnv)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, client.ErrNotFound):
		fmt.Fprintln(stderr, "not found")
		return exitNotFound
	}
	fmt.Fprintf(stderr, "yzmactl: %v\n", err)
	return exitError
}

func newRootCmd(lookupEnv func(string) (string, bool)) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "yzmactl",
		Short:         "Read and write keys of a Yzma node",
		Long:          "yzmactl reads and writes keys of a Yzma node over its HTTP API.\n\nExit status: 0 on success, 1 when the key is not found, 2 on any other error.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	env := func(name string) string { v, _ := lookupEnv(name); return v }
	server, ca := env("YZMA_SERVER"), env("YZMA_CACERT")
	if server == "" { // in a node's container: that node, as it is configured
		server = localServer(lookupEnv)
		if ca == "" {
			ca = env("YZMA_TLS_CA_FILE")
		}
		g.tls.ServerName = env("YZMA_API_ADVERTISE_NAME") // the node's certificate names it, not its IP
	}
	token := env("YZMA_TOKEN")
	if token == "" {
		token = localToken(lookupEnv)
	}
	f := root.PersistentFlags()
	f.StringVar(&g.server, "server", server, "node API base URL (env YZMA_SERVER)")
	f.StringVar(&g.token, "token", token, "bearer token (env YZMA_TOKEN)")
	f.StringVar(&g.tls.CA, "cacert", ca, "CA bundle `file` that verifies the node's certificate (env YZMA_CACERT; default: the system roots)")
	f.StringVar(&g.tls.Cert, "cert", env("YZMA_CERT"), "client certificate `file` (env YZMA_CERT)")
	f.StringVar(&g.tls.Key, "key", env("YZMA_KEY"), "client key `file` (env YZMA_KEY)")
	f.StringVar(&g.tls.ServerName, "server-name", g.tls.ServerName, "name the node's certificate must hold (default: the host of --server)")
	f.DurationVar(&g.timeout, "timeout", 30*time.Second, "timeout of each request")
	f.StringVar(&g.dnsServer, "dns-server", env("YZMA_DNS_SERVER"), "DNS server (`host:port`) to resolve --server's host with (env YZMA_DNS_SERVER; default: the system's)")
	root.AddCommand(newGetCmd(g), newPutCmd(g), newDelCmd(g), newListCmd(g), newWatchCmd(g), newRejoinCmd(g),
		newBackupCmd(g), newRestoreCmd(g))
	return root
}
