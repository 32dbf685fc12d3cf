package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
		server = defaultServer
	}
	token, _ := lookupEnv("YZMA_TOKEN")
	f := root.PersistentFlags()
	f.StringVar(&g.server, "server", server, "node API base URL (env YZMA_SERVER)")
	f.StringVar(&g.token, "token", token, "bearer token (env YZMA_TOKEN)")
	f.DurationVar(&g.timeout, "timeout", 30*time.Second, "timeout of each request")
	root.AddCommand(newGetCmd(g), newPutCmd(g), newDelCmd(g), newListCmd(g), newRejoinCmd(g))
	return root
}
