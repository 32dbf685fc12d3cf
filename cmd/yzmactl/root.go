package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/yzma/yzma/node/client"
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
// listens; else defaultServer.
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
	return "http://" + net.JoinHostPort(host, port)
}

// globals are the flags every command shares.
type globals struct {
	server  string
	token   string
	timeout time.Duration
}

// client builds the API client the flags describe.
func (g *globals) client() (*client.Client, error) {
	return client.New(g.server, client.WithBearerToken(g.token),
		client.WithHTTPClient(&http.Client{Timeout: g.timeout}))
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
	server, ok := lookupEnv("YZMA_SERVER")
	if !ok || server == "" {
		server = localServer(lookupEnv)
	}
	token, _ := lookupEnv("YZMA_TOKEN")
	if token == "" {
		token, _ = lookupEnv("YZMA_AUTH_TOKEN") // in a node's container: the node's own token
	}
	f := root.PersistentFlags()
	f.StringVar(&g.server, "server", server, "node API base URL (env YZMA_SERVER)")
	f.StringVar(&g.token, "token", token, "bearer token (env YZMA_TOKEN)")
	f.DurationVar(&g.timeout, "timeout", 30*time.Second, "timeout of each request")
	root.AddCommand(newGetCmd(g), newPutCmd(g), newDelCmd(g), newListCmd(g), newRejoinCmd(g))
	return root
}
