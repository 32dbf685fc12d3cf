package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/yzma/yzma/node/api"
)

// Value is a key as read: the value readers see, its content type, and the
// causal-context token to pass to a write that supersedes what was read.
type Value struct {
	Data    []byte
	Type    string
	Context string
}

// Sibling is one live version of a key.
type Sibling struct {
	Data    []byte
	Type    string
	Expires *time.Time // when it stops being shown (a write with a TTL); nil: never
	Node    string     // the writing node's ID
	Counter uint64
	Time    time.Time
}

// Siblings is a key read with all its live versions.
type Siblings struct {
	Value              // the shown version and the read's context
	Versions []Sibling // every live version; more than one after concurrent writes
}

// Entry is one key of a listing.
type Entry struct {
	Key      string // exact bytes
	Siblings int
	Type     string
	Size     int
}

// Page is one page of a listing.
type Page struct {
	Keys []Entry
	Next string // pass as after for the next page; empty when there is none
}

// WriteOption configures Put and Delete.
type WriteOption func(http.Header)

// WithTTL makes a write's version expire d after it is written: from then
// on no replica shows it (see api.TTLHeader).
func WithTTL(d time.Duration) WriteOption {
	return func(h http.Header) { h.Set(api.TTLHeader, d.String()) }
}

// WithContextToken makes a write or delete supersede exactly the versions the
// token (from a read or a previous write) names, instead of everything the
// node holds.
func WithContextToken(token string) WriteOption {
	return func(h http.Header) { h.Set(api.ContextHeader, token) }
}

func keyPath(key string) string { return "/keys/" + url.PathEscape(key) }

// Get reads a key.
func (c *Client) Get(ctx context.Context, key string) (Value, error) {
	var data []byte // Data is the value, base64, as the original product answered
	h, err := c.call(ctx, request{method: http.MethodGet, path: keyPath(key)}, &data)
	if err != nil {
		return Value{}, err
	}
	return Value{Data: data, Type: h.Get(api.TypeHeader), Context: h.Get(api.ContextHeader)}, nil
}

// GetSiblings reads a key with every live version.
func (c *Client) GetSiblings(ctx context.Context, key string) (Siblings, error) {
	var v api.Value
	q := url.Values{"siblings": {"1"}}
	h, err := c.call(ctx, request{method: http.MethodGet, path: keyPath(key), query: q}, &v)
	if err != nil {
		return Siblings{}, err
	}
	out := Siblings{Value: Value{Data: v.Data, Type: v.Type, Context: h.Get(api.ContextHeader)}}
	for _, s := range v.Siblings {
		out.Versions = append(out.Versions, Sibling(s))
	}
	return out, nil
}

// Put writes data under key with the given content type (may be empty) once
// it is durable, and returns the token naming the new version.
func (c *Client) Put(ctx context.Context, key string, data []byte, contentType string, opts ...WriteOption) (string, error) {
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	for _, o := range opts {
		o(h)
	}
	r := request{method: http.MethodPut, path: keyPath(key), body: bytes.NewReader(data), headers: h}
	hdr, err := c.call(ctx, r, nil)
	if err != nil {
		return "", err
	}
	return hdr.Get(api.ContextHeader), nil
}

// Delete removes a key; ErrNotFound when there was nothing to delete.
func (c *Client) Delete(ctx context.Context, key string, opts ...WriteOption) error {
	h := http.Header{}
	for _, o := range opts {
		o(h)
	}
	_, err := c.call(ctx, request{method: http.MethodDelete, path: keyPath(key), headers: h}, nil)
	return err
}

// List returns up to limit keys (0: the server's default) that start with
// prefix and sort after after, in byte order.
func (c *Client) List(ctx context.Context, prefix, after string, limit int) (Page, error) {
	q := url.Values{}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	if after != "" {
		q.Set("after", after)
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var l api.KeyList
	if _, err := c.call(ctx, request{method: http.MethodGet, path: "/keys", query: q}, &l); err != nil {
		return Page{}, err
	}
	p := Page{Keys: make([]Entry, len(l.Keys)), Next: exact(l.Next, l.NextBase64)}
	for i, e := range l.Keys {
		p.Keys[i] = Entry{Key: exact(e.Key, e.KeyBase64), Siblings: e.Siblings, Type: e.Type, Size: e.Size}
	}
	return p, nil
}

// exact prefers a key's exact bytes when the server sent them.
func exact(s string, b []byte) string {
	if b != nil {
		return string(b)
	}
	return s
}

// GetRaw streams a key's shown value to w and returns its content type.
func (c *Client) GetRaw(ctx context.Context, key string, w io.Writer) (string, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: keyPath(key), query: url.Values{"raw": {"1"}}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return "", fmt.Errorf("client: read value: %w", err)
	}
	return resp.Header.Get("Content-Type"), nil
}
