// Command loadgen puts write load on a node for a while and prints what it
// was answered, as JSON: a load generator in a process of its own, as wrk
// would be, so that a test measuring the node is not measuring its own
// load too (and is not slowed by the race detector the test runs under).
//
//	loadgen -url http://127.0.0.1:8080 -writers 2000 -duration 4s
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/yzma/yzma/internal/loadgen"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "the node's base URL")
	writers := flag.Int("writers", 100, "concurrent writers, one connection each")
	per := flag.Int("per-writer", 1<<20, "writes per writer at most")
	size := flag.Int("value-size", 100, "bytes per value")
	d := flag.Duration("duration", 5*time.Second, "how long to write")
	flag.Parse()
	stop := make(chan struct{})
	l := loadgen.Start(*url, *writers, *per, *size, stop)
	time.Sleep(*d)
	close(stop)
	l.Wait()
	if err := json.NewEncoder(os.Stdout).Encode(l.Counts()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
