package httpapi

import (
	"bytes"
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/store"
)

const keysPrefix = "/keys/"

// getKey answers a read in one of three forms: by default the original
// product's envelope, Data the shown value in base64 and its content type
// in api.TypeHeader; ?meta=1 or ?siblings=1, Data an api.Value (with every
// live version for siblings); ?raw=1, the value itself as the body, with
// its content type.
func (s *server) getKey(c echo.Context) error {
	key, err := keyOf(c.Request())
	if err != nil {
		return err
	}
	query := c.Request().URL.RawQuery
	raw, err := flagOf(query, "raw")
	if err != nil {
		return err
	}
	siblings, err := flagOf(query, "siblings")
	if err != nil {
		return err
	}
	meta, err := flagOf(query, "meta")
	if err != nil {
		return err
	}
	if raw && (siblings || meta) {
		return httpError(http.StatusBadRequest, "raw cannot be combined with siblings or meta")
	}
	item, err := s.node.Get(key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return storeError(err)
	}
	c.Response().Header().Set(api.ContextHeader, crdt.EncodeToken(item.Context))
	if err != nil {
		return storeError(err)
	}
	shown := item.Shown()
	if raw {
		ct := shown.Type
		if ct == "" {
			ct = echo.MIMEOctetStream
		}
		c.Response().Header().Set("X-Content-Type-Options", "nosniff")
		return c.Blob(http.StatusOK, ct, shown.Value)
	}
	if !siblings && !meta { // the original's shape: Data is the value, base64
		if shown.Type != "" {
			c.Response().Header().Set(api.TypeHeader, shown.Type)
		}
		data := shown.Value
		if data == nil {
			data = []byte{} // "" rather than null
		}
		return respond(c, http.StatusOK, data)
	}
	v := api.Value{Data: shown.Value, Type: shown.Type, Expires: expiresOf(shown)}
	if siblings {
		v.Siblings = make([]api.Sibling, len(item.Versions))
		for i, ver := range item.Versions {
			v.Siblings[i] = api.Sibling{Data: ver.Value, Type: ver.Type, Expires: expiresOf(ver), Node: ver.Dot.Node.String(),
				Counter: ver.Dot.Counter, Time: ver.HLC.Time()}
		}
	}
	return respond(c, http.StatusOK, v)
}

// putKey serves PUT and POST: the body becomes the key's value.
func (s *server) putKey(c echo.Context) error {
	r := c.Request()
	key, observed, err := writeTarget(r)
	if err != nil {
		return err
	}
	leave, err := s.writes.enter(r.Context())
	if err != nil {
		return storeError(err)
	}
	defer leave()
	ttl, err := ttlOf(r)
	if err != nil {
		return err
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	op, err := s.node.PutExpiring(r.Context(), key, body, r.Header.Get(echo.HeaderContentType), observed, ttl)
	if err != nil {
		return storeError(err)
	}
	c.Response().Header().Set(api.ContextHeader, crdt.EncodeToken(crdt.DotContext(op.Dot)))
	return respond(c, http.StatusOK, nil)
}

func (s *server) deleteKey(c echo.Context) error {
	r := c.Request()
	key, observed, err := writeTarget(r)
	if err != nil {
		return err
	}
	leave, err := s.writes.enter(r.Context())
	if err != nil {
		return storeError(err)
	}
	defer leave()
	if _, err := s.node.Delete(r.Context(), key, observed); err != nil {
		return storeError(err)
	}
	return respond(c, http.StatusOK, nil)
}

// ttlOf reads a write's time to live from ?ttl= or the api.TTLHeader (a Go
// duration such as 30s or 1h30m, or whole seconds), from 1ms to
// api.MaxTTL; none is 0, no expiry. Both given and different is a 400.
func ttlOf(r *http.Request) (time.Duration, error) {
	var fromQuery string
	if r.URL.RawQuery != "" {
		q, err := queryOf(r)
		if err != nil {
			return 0, err
		}
		fromQuery = q.Get("ttl")
	}
	fromHeader := r.Header.Get(api.TTLHeader)
	v := cmp.Or(fromQuery, fromHeader)
	if v == "" {
		return 0, nil
	}
	if fromQuery != "" && fromHeader != "" && fromQuery != fromHeader {
		return 0, httpError(http.StatusBadRequest, "ttl=%q and %s: %q disagree", fromQuery, api.TTLHeader, fromHeader)
	}
	d, err := time.ParseDuration(v)
	if n, nerr := strconv.ParseUint(v, 10, 32); err != nil && nerr == nil {
		d, err = time.Duration(n)*time.Second, nil
	}
	if err != nil || d < time.Millisecond || d > api.MaxTTL {
		return 0, httpError(http.StatusBadRequest, "ttl %q: want a duration such as 30s or 2h, or seconds, from 1ms to %v", v, api.MaxTTL)
	}
	return d, nil
}

// writeTarget reads what a write or delete acts on: the key and the causal
// context it supersedes (nil: everything the node holds).
func writeTarget(r *http.Request) ([]byte, *crdt.Context, error) {
	key, err := keyOf(r)
	if err != nil {
		return nil, nil, err
	}
	observed, err := observedOf(r)
	if err != nil {
		return nil, nil, err
	}
	return key, observed, nil
}

// keyOf takes the key from the escaped path, so that "%2F" and "/" both
// work and nothing is cleaned, and unescapes it once.
func keyOf(r *http.Request) ([]byte, error) {
	key, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), keysPrefix))
	if err != nil {
		return nil, httpError(http.StatusBadRequest, "bad percent-encoding in key: %v", err)
	}
	switch {
	case key == "":
		return nil, httpError(http.StatusBadRequest, "empty key: use /keys/{key}")
	case len(key) > store.MaxKeyLen:
		return nil, httpError(http.StatusBadRequest, "key is %d bytes; the limit is %d bytes", len(key), store.MaxKeyLen)
	}
	return []byte(key), nil
}

// observedOf decodes the optional causal-context header; nil when absent.
func observedOf(r *http.Request) (*crdt.Context, error) {
	vals := r.Header.Values(api.ContextHeader)
	switch len(vals) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, httpError(http.StatusBadRequest, "send at most one %s header", api.ContextHeader)
	}
	c, err := crdt.DecodeToken(strings.TrimSpace(vals[0]))
	if err != nil {
		return nil, httpError(http.StatusBadRequest, "bad %s header: %v", api.ContextHeader, err)
	}
	return &c, nil
}

// readBody reads the request body, answering 413 past the limit without
// ever buffering more than the limit.
func (s *server) readBody(c echo.Context) ([]byte, error) {
	r := c.Request()
	if r.ContentLength > s.maxBody {
		return nil, s.tooLarge()
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(c.Response().Writer, r.Body, s.maxBody)); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, s.tooLarge()
		}
		return nil, httpError(http.StatusBadRequest, "read request body: %v", err)
	}
	return buf.Bytes(), nil
}

func (s *server) tooLarge() error {
	return httpError(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", s.maxBody)
}

func queryOf(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, httpError(http.StatusBadRequest, "bad query string: %v", err)
	}
	return q, nil
}

// flagOf reads a flag such as raw=1 from a raw query string; absent is
// false. Every read passes here, so it scans the string instead of
// building url.Values, and refuses what url.ParseQuery refuses (a bad
// escape or a semicolon anywhere); the first value of name counts.
func flagOf(query, name string) (bool, error) {
	v, found := "", false
	for part := range strings.SplitSeq(query, "&") {
		if strings.Contains(part, ";") {
			return false, httpError(http.StatusBadRequest, "bad query string: invalid semicolon separator in query")
		}
		k, val, _ := strings.Cut(part, "=")
		if strings.ContainsAny(part, "%+") {
			var err error
			if k, err = url.QueryUnescape(k); err == nil {
				val, err = url.QueryUnescape(val)
			}
			if err != nil {
				return false, httpError(http.StatusBadRequest, "bad query string: %v", err)
			}
		}
		if k == name && !found {
			v, found = val, true
		}
	}
	return boolParam(name, v)
}

// boolParam parses the value v of flag name; empty is false.
func boolParam(name, v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, httpError(http.StatusBadRequest, "%s=%q: want 1, 0, true or false", name, v)
	}
	return b, nil
}

// expiresOf is when v expires (by its hybrid time), nil when never.
func expiresOf(v crdt.Version) *time.Time {
	if v.Expires == 0 {
		return nil
	}
	t := v.Expires.Time()
	return &t
}
