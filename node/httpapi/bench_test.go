package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/yzma/yzma/node/httpapi"
)

// benchClient keeps enough idle connections for every writer.
func benchClient(b *testing.B, conns int) *http.Client {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns}}
	b.Cleanup(hc.CloseIdleConnections)
	return hc
}

func benchDo(b *testing.B, hc *http.Client, method, url string, body []byte) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		b.Error(err)
		return
	}
	resp, err := hc.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Errorf("%s %s: %d", method, url, resp.StatusCode)
	}
}

// BenchmarkPut measures durable single-node writes over HTTP with a fixed
// number of concurrent writers sharing b.N writes.
func BenchmarkPut(b *testing.B) {
	value := bytes.Repeat([]byte("v"), 256)
	for _, writers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			e := newEnv(b, httpapi.Options{})
			hc := benchClient(b, writers)
			var next atomic.Int64
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			var wg sync.WaitGroup
			for range writers {
				wg.Go(func() {
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						benchDo(b, hc, http.MethodPut, fmt.Sprintf("%s/keys/bench-%d", e.srv.URL, i%1024), value)
					}
				})
			}
			wg.Wait()
		})
	}
}

// BenchmarkGet measures reads of 1024 keys from parallel readers.
func BenchmarkGet(b *testing.B) {
	e := newEnv(b, httpapi.Options{})
	const keys = 1024
	for i := range keys {
		e.put(fmt.Sprintf("/keys/bench-%d", i), "value")
	}
	hc := benchClient(b, 64)
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchDo(b, hc, http.MethodGet, fmt.Sprintf("%s/keys/bench-%d", e.srv.URL, n.Add(1)%keys), nil)
		}
	})
}
