package client

import (
	"bufio"
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

// maxEventBytes bounds one line of a watch stream: a value of the API's
// largest body, base64 in JSON, fits.
const maxEventBytes = api.DefaultMaxBodyBytes*4/3 + 64<<10

// WatchEvent is one event of a watch (GET /watch): Kind "put" or "delete"
// for a change the node applied; "reset" (Reason says why), then "state"
// for each live key under the prefix, then "synced", when the node could
// not resume from the cursor given.
type WatchEvent struct {
	Kind     string
	Cursor   string `json:",omitempty"` // put, delete and synced: resume right after this event
	Key      string `json:",omitempty"` // exact bytes
	Value    []byte `json:",omitempty"`
	Type     string `json:",omitempty"`
	Siblings int
	Context  string `json:",omitempty"` // the key's context after the change, for WithContextToken
	Reason   string `json:",omitempty"` // of a reset
}

// Watch streams the changes the node applies to keys under prefix, from
// right after cursor since (empty: from now), calling fn for each event in
// order, until ctx ends, fn returns an error, or the stream ends (the node
// closing). It returns the cursor to resume from, also moved by the
// node's heartbeats, and why it stopped.
func (c *Client) Watch(ctx context.Context, prefix, since string, fn func(WatchEvent) error) (string, error) {
	q := url.Values{}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	h := http.Header{"Accept": {"text/event-stream"}}
	if since != "" {
		h.Set("Last-Event-ID", since)
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/watch", query: q, headers: h})
	if err != nil {
		return since, err
	}
	defer resp.Body.Close()
	cursor := since
	err = readEvents(resp.Body, func(id, kind string, data []byte) error {
		if id != "" {
			cursor = id
		}
		if kind == "" { // a heartbeat: an id alone
			return nil
		}
		ev, err := decodeEvent(kind, data)
		if err != nil {
			return err
		}
		if kind != "state" && kind != "reset" {
			ev.Cursor = id
		}
		return fn(ev)
	})
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return cursor, err
}

func decodeEvent(kind string, data []byte) (WatchEvent, error) {
	ev := WatchEvent{Kind: kind}
	switch kind {
	case "reset":
		var r api.WatchReset
		if err := json.Unmarshal(data, &r); err != nil {
			return ev, fmt.Errorf("client: watch: decode %s event: %w", kind, err)
		}
		ev.Reason = r.Reason
	case "synced":
	default:
		var w api.WatchEvent
		if err := json.Unmarshal(data, &w); err != nil {
			return ev, fmt.Errorf("client: watch: decode %s event: %w", kind, err)
		}
		ev.Key = w.Key
		if w.KeyBase64 != nil {
			ev.Key = string(w.KeyBase64)
		}
		ev.Value, ev.Type, ev.Siblings, ev.Context = w.Value, w.Type, w.Siblings, w.Context
	}
	return ev, nil
}

// readEvents parses a Server-Sent Events stream (the subset the API
// writes, read as the specification says: "field: value" lines, comments,
// multi-line data, a blank line dispatching) and calls fn for each
// dispatched block with its id (empty: none), event type (empty: none,
// as in an id-only heartbeat) and data. A line longer than maxEventBytes
// is an error. It returns nil at the end of the stream.
func readEvents(r io.Reader, fn func(id, kind string, data []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
	var id, kind string
	var data bytes.Buffer
	seen := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if seen {
				if err := fn(id, kind, data.Bytes()); err != nil {
					return err
				}
			}
			id, kind, seen = "", "", false
			data.Reset()
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id, seen = value, true
		case "event":
			kind, seen = value, true
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			seen = true
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("client: watch: an event line longer than %d bytes", maxEventBytes)
		}
		return fmt.Errorf("client: watch: %w", err)
	}
	return nil
}
