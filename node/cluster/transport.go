package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/store"
	"github.com/yzma/yzma/node/wire"
)

// Transport is how a node reaches its peers' data. addr is a peer's API
// address (host:port) from its gossip metadata.
type Transport interface {
	// VersionVector returns what the peer has applied.
	VersionVector(ctx context.Context, addr string) (crdt.VersionVector, error)
	// Push hands ops (of one origin, in counter order) to the peer and
	// returns its version vector afterwards.
	Push(ctx context.Context, addr string, ops []crdt.Op) (crdt.VersionVector, error)
	// Pull returns the peer's operations of origin after counter after;
	// store.ErrPruned when its log no longer reaches back that far.
	Pull(ctx context.Context, addr string, origin crdt.NodeID, after uint64, limit, maxBytes int) ([]crdt.Op, error)
	// Snapshot streams the peer's whole key state (store.WriteSnapshot).
	Snapshot(ctx context.Context, addr string) (io.ReadCloser, error)
}

// Paths of the data channel, under the node's HTTP API.
const (
	PathVV       = "/internal/vv"
	PathOps      = "/internal/ops"
	PathSnapshot = "/internal/snapshot"
)

// HTTPTransport is the Transport over the peers' HTTP APIs.
type HTTPTransport struct {
	Client *http.Client // nil: a client with a 60 s timeout
	Scheme string       // "http" (default) or "https"
	Token  string       // bearer token, when the API requires one
}

func (t *HTTPTransport) do(ctx context.Context, method, addr, path string, q url.Values, body any, out any) error {
	resp, err := t.open(ctx, method, addr, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := peerDec.NewDecoder(io.LimitReader(resp.Body, maxPeerBody)).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, resp.Request.URL.Redacted(), err)
	}
	return nil
}

// open sends a request and returns the response of a 200 answer.
func (t *HTTPTransport) open(ctx context.Context, method, addr, path string, q url.Values, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := cbor.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	scheme := t.Scheme
	if scheme == "" {
		scheme = "http"
	}
	u := url.URL{Scheme: scheme, Host: addr, Path: path, RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/cbor")
	if t.Token != "" {
		req.Header.Set("Authorization", "Bearer "+t.Token)
	}
	client := t.Client
	if client == nil {
		client = defaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusGone {
		return nil, store.ErrPruned
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return nil, fmt.Errorf("%s %s: %s: %s", method, u.Redacted(), resp.Status, msg)
}

// defaultClient bounds each call; a snapshot is bounded by its context only.
var (
	defaultClient  = &http.Client{Timeout: 60 * time.Second}
	snapshotClient = &http.Client{}
)

// VersionVector implements Transport.
func (t *HTTPTransport) VersionVector(ctx context.Context, addr string) (crdt.VersionVector, error) {
	vv := crdt.VersionVector{}
	return vv, t.do(ctx, http.MethodGet, addr, PathVV, nil, nil, &vv)
}

// Push implements Transport.
func (t *HTTPTransport) Push(ctx context.Context, addr string, ops []crdt.Op) (crdt.VersionVector, error) {
	vv := crdt.VersionVector{}
	return vv, t.do(ctx, http.MethodPost, addr, PathOps, nil, ops, &vv)
}

// Pull implements Transport.
func (t *HTTPTransport) Pull(ctx context.Context, addr string, origin crdt.NodeID, after uint64, limit, maxBytes int) ([]crdt.Op, error) {
	q := url.Values{
		"origin": {origin.String()}, "after": {strconv.FormatUint(after, 10)},
		"limit": {strconv.Itoa(limit)}, "maxBytes": {strconv.Itoa(maxBytes)},
	}
	var ops []crdt.Op
	return ops, t.do(ctx, http.MethodGet, addr, PathOps, q, nil, &ops)
}

// Snapshot implements Transport.
func (t *HTTPTransport) Snapshot(ctx context.Context, addr string) (io.ReadCloser, error) {
	tt := *t
	if tt.Client == nil {
		tt.Client = snapshotClient
	}
	resp, err := tt.open(ctx, http.MethodGet, addr, PathSnapshot, nil, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Limits on what peers send. maxPeerBody bounds a pushed or pulled batch
// and a version vector: the sender stops a batch after it passes
// batchBytes, so one value of up to the API's body limit still fits.
// maxBatchOps is far above what a sender puts in one batch (batchOps).
const (
	maxPeerBody = 64 << 20
	maxBatchOps = 1 << 14
)

// peerDec decodes peers' bodies: nesting, arrays (a batch, a context's
// cloud, a key's siblings) and maps (version vectors) bounded.
var peerDec = wire.Limits{MaxNested: 8, MaxElements: max(maxBatchOps, crdt.MaxCloudDots), MaxPairs: crdt.MaxContextEntries}.DecMode()

// ErrBadBatch is returned for a batch of operations no peer could have
// sent.
var ErrBadBatch = errors.New("malformed operation batch")

// DecodeOps decodes and checks a batch of operations a peer pushed:
// within the limits, every operation with a real dot and its observed
// context normalized (crdt.Op.Check). Keys are the store's to check.
func DecodeOps(r io.Reader) ([]crdt.Op, error) {
	var ops []crdt.Op
	if err := peerDec.NewDecoder(r).Decode(&ops); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadBatch, err)
	}
	if len(ops) > maxBatchOps {
		return nil, fmt.Errorf("%w: %d operations (limit %d)", ErrBadBatch, len(ops), maxBatchOps)
	}
	for i := range ops {
		if err := ops[i].Check(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadBatch, err)
		}
	}
	return ops, nil
}

// Handler serves the data channel for peers: mount it on the node's HTTP API
// (behind the same authentication) for the paths PathVV and PathOps.
func (c *Cluster) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathVV, func(w http.ResponseWriter, r *http.Request) {
		writeCBOR(w, c.store.VersionVector())
	})
	mux.HandleFunc("POST "+PathOps, func(w http.ResponseWriter, r *http.Request) {
		ops, err := DecodeOps(http.MaxBytesReader(w, r.Body, maxPeerBody))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n, err := c.store.ApplyRemote(r.Context(), ops)
		switch {
		case errors.Is(err, store.ErrOwnOrigin), errors.Is(err, store.ErrEmptyKey), errors.Is(err, store.ErrKeyTooLong):
			c.log.Warn("refused a peer's operations", "remote", r.RemoteAddr, "error", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		case err != nil && !errors.Is(err, store.ErrGap):
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		c.metrics.opsReceived.Add(float64(n))
		c.metrics.bytesReceived.Add(float64(opsBytes(ops)))
		writeCBOR(w, c.store.VersionVector())
	})
	mux.HandleFunc("GET "+PathOps, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		origin, err1 := crdt.ParseNodeID(q.Get("origin"))
		after, err2 := strconv.ParseUint(q.Get("after"), 10, 64)
		limit, err3 := strconv.Atoi(q.Get("limit"))
		maxBytes, err4 := strconv.Atoi(q.Get("maxBytes"))
		if err := errors.Join(err1, err2, err3, err4); err != nil || limit <= 0 || maxBytes <= 0 {
			http.Error(w, fmt.Sprintf("bad query: %v", err), http.StatusBadRequest)
			return
		}
		ops, err := c.store.OpsSince(origin, after, min(limit, batchOps), min(maxBytes, batchBytes))
		switch {
		case errors.Is(err, store.ErrPruned):
			http.Error(w, err.Error(), http.StatusGone)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeCBOR(w, ops)
	})
	mux.HandleFunc("GET "+PathSnapshot, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/cbor-seq")
		if err := c.store.WriteSnapshot(w); err != nil {
			c.log.Warn("snapshot stream failed", "error", err)
		}
	})
	return mux
}

func writeCBOR(w http.ResponseWriter, v any) {
	b, err := cbor.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/cbor")
	_, _ = w.Write(b)
}
