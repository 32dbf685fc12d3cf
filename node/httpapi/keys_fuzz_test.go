package httpapi

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/yzma/yzma/node/store"
)

// FuzzKeyOf extracts keys from arbitrary request targets "/keys/" + escaped,
// parsed as Go's HTTP server parses them. keyOf must never panic; it gives
// a key of 1 to store.MaxKeyLen bytes or a 4xx *echo.HTTPError; and the key,
// percent-encoded again (minimally or every byte), comes back unchanged.
// More seeds: testdata/fuzz/FuzzKeyOf.
func FuzzKeyOf(f *testing.F) {
	for _, seed := range []string{
		"a/b", "c%2Fd", "/x//y", "%2E%2E", "a/../b", "dir/", "hello%20world", "a+b", "100%25",
		"q%3Fx%3D1%23f", "a:b*c", "ключ/🙂", "%D0%BA%D0%BB", "%FF%00%FE", "", "%", "%zz", "a?raw=1",
		strings.Repeat("k", store.MaxKeyLen+1),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, escaped string) {
		r, err := readRequest("/keys/" + escaped)
		if err != nil {
			return // Go's server answers it with its own 400; keyOf never sees it
		}
		key, err := keyOf(r)
		if err != nil {
			he, ok := errors.AsType[*echo.HTTPError](err)
			if !ok || he.Code < 400 || he.Code > 499 {
				t.Fatalf("keyOf(%q): %v (%T), want a 4xx *echo.HTTPError", r.URL.EscapedPath(), err, err)
			}
			return
		}
		if len(key) < 1 || len(key) > store.MaxKeyLen {
			t.Fatalf("keyOf(%q) = a key of %d bytes, want 1 to %d", r.URL.EscapedPath(), len(key), store.MaxKeyLen)
		}
		for _, enc := range []struct {
			name string
			path string
		}{
			{"PathEscape", url.PathEscape(string(key))},
			{"every byte", escapeEvery(key)},
		} {
			r2, err := readRequest("/keys/" + enc.path)
			if err != nil {
				t.Fatalf("key %q escaped (%s) as %q: the request does not parse: %v", key, enc.name, enc.path, err)
			}
			again, err := keyOf(r2)
			if err != nil || string(again) != string(key) {
				t.Fatalf("key %q escaped (%s) as %q extracts as %q, %v", key, enc.name, enc.path, again, err)
			}
		}
	})
}

// readRequest parses a GET of target as the HTTP server does.
func readRequest(target string) (*http.Request, error) {
	return http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: test\r\n\r\n")))
}

// escapeEvery percent-encodes every byte of b, upper or lower case hex.
func escapeEvery(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		format := "%%%02X"
		if i%2 == 1 {
			format = "%%%02x"
		}
		fmt.Fprintf(&sb, format, c)
	}
	return sb.String()
}

// FuzzFlagOf: the query scanner of reads agrees with url.ParseQuery on
// every query string: refused exactly when ParseQuery refuses it, and
// otherwise the flag of the first value ParseQuery gives.
func FuzzFlagOf(f *testing.F) {
	for _, seed := range []string{"", "raw=1", "raw=0&siblings=true", "raw", "raw=", "x=%zz&raw=1", "raw=1;x=2",
		"r%61w=1", "raw=%31", "raw=1&raw=0", "raw=yes", "a+b=c&raw=t", "&&raw=1&"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		got, err := flagOf(query, "raw")
		q, perr := url.ParseQuery(query)
		if perr != nil {
			if err == nil {
				t.Fatalf("flagOf(%q) = %v; ParseQuery refuses it: %v", query, got, perr)
			}
			return
		}
		want, werr := boolParam("raw", q.Get("raw"))
		if got != want || (err == nil) != (werr == nil) {
			t.Fatalf("flagOf(%q) = %v, %v; want %v, %v", query, got, err, want, werr)
		}
	})
}
