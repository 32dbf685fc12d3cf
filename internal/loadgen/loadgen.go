// Package loadgen drives write load against a node's HTTP API for tests and
// benchmarks, the way wrk does: each writer holds one raw keep-alive
// connection and writes its requests by hand, so the load costs the test
// process far less than the node spends serving it.
package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Load counts the answers of a running load by status.
type Load struct {
	OK, Shed, Other atomic.Int64 // 200; 503; anything else or a broken connection
	MissingRetry    atomic.Int64 // 503s without Retry-After
	wg              sync.WaitGroup
}

// Wait waits until every writer has stopped.
func (l *Load) Wait() { l.wg.Wait() }

// Start runs writers concurrent PUT loops of valueSize-byte values against
// base (http://host:port) until stop closes, each at most perWriter writes,
// on keys "w<writer>-<i>".
func Start(base string, writers, perWriter, valueSize int, stop <-chan struct{}) *Load {
	host := strings.TrimPrefix(base, "http://")
	l := &Load{}
	value := bytes.Repeat([]byte("v"), valueSize)
	for w := range writers {
		l.wg.Go(func() { l.writer(host, w, perWriter, value, stop) })
	}
	return l
}

func (l *Load) writer(host string, w, perWriter int, value []byte, stop <-chan struct{}) {
	conn, err := net.DialTimeout("tcp", host, 30*time.Second)
	if err != nil {
		l.Other.Add(1)
		return
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for i := range perWriter {
		select {
		case <-stop:
			return
		default:
		}
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprintf(conn, "PUT /keys/w%d-%d HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", w, i, host, len(value), value); err != nil {
			l.Other.Add(1)
			return
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			l.Other.Add(1)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			l.OK.Add(1)
		case http.StatusServiceUnavailable:
			l.Shed.Add(1)
			if resp.Header.Get("Retry-After") == "" {
				l.MissingRetry.Add(1)
			}
		default:
			l.Other.Add(1)
		}
	}
}

// Counts is a summary of a load's answers.
type Counts struct {
	OK, Shed, Other, MissingRetry int64
}

// Counts returns the answers so far.
func (l *Load) Counts() Counts {
	return Counts{OK: l.OK.Load(), Shed: l.Shed.Load(), Other: l.Other.Load(), MissingRetry: l.MissingRetry.Load()}
}
