// Command node runs one Yzma node: the durable store behind the HTTP API.
//
//	node [-c FILE] [-j HOST:PORT[,HOST:PORT…]]… [-log-level LEVEL]
//
// Without -c it runs on defaults (API on 127.0.0.1:8080, data in ./yzma.db);
// YZMA_* environment variables override the file (see package config). -j
// adds gossip addresses of peers to join, repeatable or comma-separated, to
// Peering.Join. The node serves its API at once and joins the cluster in the
// background: /readyz answers 503 until it has caught up. Logs go to stderr,
// as JSON unless stderr is a terminal.
//
// SIGTERM or SIGINT stops accepting requests, lets the requests in flight
// finish (every acknowledged write is durable), closes the data file and
// exits 0. A second signal exits at once.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal gets the default behaviour: exit at once
	}()
	os.Exit(run(ctx, os.Args[1:], os.LookupEnv, os.Stderr))
}
