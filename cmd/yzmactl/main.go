// Command yzmactl reads and writes keys of a Yzma node over its HTTP API.
//
//	yzmactl get KEY [--json] [--siblings]
//	yzmactl put KEY [VALUE] [--file F] [--type T] [--context TOKEN]
//	yzmactl del KEY [--context TOKEN]
//	yzmactl list [--prefix P] [--after K] [--limit N] [--json]
//	yzmactl rejoin
//
// rejoin makes a node that left its cluster a member again (POST
// /cluster/join without peers).
//
// --server (env YZMA_SERVER, default http://127.0.0.1:8080) picks the node
// and --token (env YZMA_TOKEN) its bearer token. Exit status: 0 on success,
// 1 when the key is not found, 2 on any other error.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(execute(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv))
}
