// Package client is a Go client for a Yzma node's HTTP API (see package
// httpapi), used by the operator, yzmactl and tests.
//
// Keys are strings holding arbitrary bytes; the client percent-encodes them
// itself, so "a/b" travels as "a%2Fb". A 404 answer is ErrNotFound; every
// other error answer is an *APIError.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/yzma/yzma/node/api"
)

// ErrNotFound is returned when the key (or the endpoint) does not exist.
var ErrNotFound = errors.New("not found")

// APIError is an error answer other than 404.
type APIError struct {
	StatusCode int
	Message    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Client talks to one node. It is safe for concurrent use.
type Client struct {
	base        *url.URL
	hc          *http.Client
	token       string
	tokenHeader bool // send the token in api.TokenHeader
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: http.DefaultClient).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithBearerToken sends "Authorization: Bearer <token>" with every request.
func WithBearerToken(token string) Option { return func(c *Client) { c.token = token } }

// WithTokenHeader sends the token in the X-Yzma-Token header instead of
// Authorization: for calls through the Kubernetes API server's pod proxy,
// which keeps Authorization for itself.
func WithTokenHeader(token string) Option {
	return func(c *Client) { c.token, c.tokenHeader = token, true }
}

// New returns a client for the node at baseURL, such as
// "http://127.0.0.1:8080".
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http://host:port or https://host:port", baseURL)
	}
	u.Path, u.RawPath = strings.TrimSuffix(u.Path, "/"), ""
	c := &Client{base: u, hc: http.DefaultClient}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// request describes one call.
type request struct {
	method  string
	path    string // escaped, from the API root
	query   url.Values
	body    io.Reader
	length  int64 // of body, when more than 0
	headers http.Header
}

// do sends r and returns the response for a 2xx answer; any other answer
// becomes ErrNotFound or an *APIError. The caller closes the body.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	u := c.base.String() + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, r.body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if r.length > 0 {
		req.ContentLength = r.length
	}
	for k, vs := range r.headers {
		req.Header[k] = vs
	}
	switch {
	case c.token != "" && c.tokenHeader:
		req.Header.Set(api.TokenHeader, c.token)
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, answerError(resp)
}

// answerError reads an error answer: the envelope's message, or the start
// of whatever else the server sent.
func answerError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var env envelope
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &env) == nil && env.Error != "" {
		msg = env.Error
	}
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: %s", ErrNotFound, msg)
	}
	if len(msg) > 512 {
		msg = msg[:512] + "…"
	}
	return &APIError{StatusCode: resp.StatusCode, Message: msg}
}

// envelope is api.Envelope with Data left raw for the caller to decode.
type envelope struct {
	Status string
	Error  string
	Data   json.RawMessage
}

// call sends r and decodes the ok envelope's Data into out (nil: ignore it).
func (c *Client) call(ctx context.Context, r request, out any) (http.Header, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return nil, fmt.Errorf("client: decode answer to %s %s: %w", r.method, r.path, err)
	}
	if out != nil && len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return nil, fmt.Errorf("client: decode answer to %s %s: %w", r.method, r.path, err)
		}
	}
	return resp.Header, nil
}

func jsonBody(v any) (io.Reader, http.Header, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, nil, fmt.Errorf("client: encode request: %w", err)
	}
	return bytes.NewReader(b), http.Header{"Content-Type": {"application/json"}}, nil
}
