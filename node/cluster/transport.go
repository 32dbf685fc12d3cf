package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/creds"
	"github.com/yzma/yzma/node/store"
	"github.com/yzma/yzma/node/wire"
)

// Transport is how a node reaches its peers' data, at the Endpoint their
// gossip metadata announces.
type Transport interface {
	// VersionVector returns what the peer has applied.
	VersionVector(ctx context.Context, ep Endpoint) (crdt.VersionVector, error)
	// Push hands ops (of one origin, in counter order) to the peer and
	// returns its version vector afterwards.
	Push(ctx context.Context, ep Endpoint, ops []crdt.Op) (crdt.VersionVector, error)
	// Pull returns the peer's operations of origin after counter after;
	// store.ErrPruned when its log no longer reaches back that far.
	Pull(ctx context.Context, ep Endpoint, origin crdt.NodeID, after uint64, limit, maxBytes int) ([]crdt.Op, error)
	// Snapshot streams the peer's whole key state (store.WriteSnapshot).
	Snapshot(ctx context.Context, ep Endpoint) (io.ReadCloser, error)
}

// Endpoint is where a peer's HTTP API is: the address dialed, and with
// TLS the name its certificate must hold (its pod's DNS name; empty: the
// address's host). Dialing the address and verifying the name keeps the
// data channel independent of DNS while still checking who answers.
type Endpoint struct {
	Addr string // host:port
	Name string // TLS server name; empty: Addr's host
	TLS  bool
	Zstd bool // it takes zstd-compressed pushes (compress.go)
}

func (e Endpoint) serverName() string {
	if e.Name != "" {
		return e.Name
	}
	host, _, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return e.Addr
	}
	return host
}

// Paths of the data channel, under the node's HTTP API.
const (
	PathVV       = "/internal/vv"
	PathOps      = "/internal/ops"
	PathSnapshot = "/internal/snapshot"
)

// HTTPTransport is the Transport over the peers' HTTP APIs.
type HTTPTransport struct {
	// Client, when set, makes every call (tests); nil: clients built here,
	// one per TLS server name, presenting TLS's certificate.
	Client *http.Client
	// TLS verifies peers (by Endpoint name, against its CA) and is this
	// node's client certificate; nil: the system roots, no certificate.
	TLS *creds.TLS
	// Peer holds the peer secret sent as bearer token; nil: none.
	Peer *creds.File[creds.Secrets]
	// Name is this member's name, sent in api.PeerHeader.
	Name string
	// Source, when set, is the local IP calls leave from: the address
	// this node's API advertises, so that a peer receiving a push knows
	// which member it came from (checkClaims). nil: the system's choice
	// (on loopback always 127.0.0.1).
	Source net.IP
	// NoCompression turns zstd off (compress.go): calls neither ask for
	// compressed answers nor compress pushes.
	NoCompression bool
	// DialWith, when set, makes the dial function from the dialer
	// calls would use (tests filter the network this way, see package
	// faultnet).
	DialWith func(*net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error)

	mu      sync.Mutex
	clients map[clientKey]*http.Client
}

type clientKey struct {
	serverName string
	stream     bool // no overall timeout: a snapshot is bounded by its context only
}

// client returns the HTTP client for ep: one per server name, so each
// verifies its own peer's name and keeps its own idle connections.
func (t *HTTPTransport) client(ep Endpoint, stream bool) *http.Client {
	if t.Client != nil {
		return t.Client
	}
	key := clientKey{stream: stream}
	if ep.TLS {
		key.serverName = ep.serverName()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.clients[key]; ok {
		return c
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if t.Source != nil {
		d.LocalAddr = &net.TCPAddr{IP: t.Source}
	}
	tr.DialContext = d.DialContext
	if t.DialWith != nil {
		tr.DialContext = t.DialWith(d)
	}
	if ep.TLS {
		if t.TLS != nil {
			tr.TLSClientConfig = t.TLS.ClientConfig(key.serverName)
		} else {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: key.serverName}
		}
		tr.ForceAttemptHTTP2 = false
	}
	c := &http.Client{Transport: tr, Timeout: callTimeout}
	if stream {
		c.Timeout = 0
	}
	if t.clients == nil {
		t.clients = map[clientKey]*http.Client{}
	}
	t.clients[key] = c
	return c
}

// callTimeout bounds each call but a snapshot's.
const callTimeout = 60 * time.Second

func (t *HTTPTransport) do(ctx context.Context, method string, ep Endpoint, path string, q url.Values, body any, out any) error {
	resp, err := t.open(ctx, method, ep, path, q, body, false)
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
func (t *HTTPTransport) open(ctx context.Context, method string, ep Endpoint, path string, q url.Values, body any, stream bool) (*http.Response, error) {
	var rd io.Reader
	encoding := ""
	if body != nil {
		b, err := cbor.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		if ep.Zstd && !t.NoCompression && len(b) >= compressMinBytes {
			b, encoding = compress(b), encodingZstd
		}
		rd = bytes.NewReader(b)
	}
	scheme := "http"
	if ep.TLS {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: ep.Addr, Path: path, RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/cbor")
	if !t.NoCompression {
		req.Header.Set("Accept-Encoding", encodingZstd)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	if t.Name != "" {
		req.Header.Set(api.PeerHeader, t.Name)
	}
	if t.Peer != nil {
		if tok := t.Peer.Get().First(); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	resp, err := t.client(ep, stream).Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	if resp.StatusCode == http.StatusOK {
		body, err := decodedBody(resp.Body, resp.Header.Get("Content-Encoding"))
		if err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
		}
		resp.Body = body
		return resp, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusGone {
		return nil, store.ErrPruned
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return nil, fmt.Errorf("%s %s: %s: %s", method, u.Redacted(), resp.Status, msg)
}

// VersionVector implements Transport.
func (t *HTTPTransport) VersionVector(ctx context.Context, ep Endpoint) (crdt.VersionVector, error) {
	vv := crdt.VersionVector{}
	return vv, t.do(ctx, http.MethodGet, ep, PathVV, nil, nil, &vv)
}

// Push implements Transport.
func (t *HTTPTransport) Push(ctx context.Context, ep Endpoint, ops []crdt.Op) (crdt.VersionVector, error) {
	vv := crdt.VersionVector{}
	return vv, t.do(ctx, http.MethodPost, ep, PathOps, nil, ops, &vv)
}

// Pull implements Transport.
func (t *HTTPTransport) Pull(ctx context.Context, ep Endpoint, origin crdt.NodeID, after uint64, limit, maxBytes int) ([]crdt.Op, error) {
	q := url.Values{
		"origin": {origin.String()}, "after": {strconv.FormatUint(after, 10)},
		"limit": {strconv.Itoa(limit)}, "maxBytes": {strconv.Itoa(maxBytes)},
	}
	var ops []crdt.Op
	return ops, t.do(ctx, http.MethodGet, ep, PathOps, q, nil, &ops)
}

// Snapshot implements Transport.
func (t *HTTPTransport) Snapshot(ctx context.Context, ep Endpoint) (io.ReadCloser, error) {
	resp, err := t.open(ctx, http.MethodGet, ep, PathSnapshot, nil, nil, true)
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
		body, err := decodedBody(http.MaxBytesReader(w, r.Body, maxPeerBody), r.Header.Get("Content-Encoding"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnsupportedMediaType)
			return
		}
		defer body.Close()
		ops, err := DecodeOps(io.LimitReader(body, maxPeerBody))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if err := c.checkClaims(r.Context(), claimsOf(ops), nil, host); err != nil {
			c.log.Warn("refused a peer's operations", "peer", r.Header.Get(api.PeerHeader), "remote", r.RemoteAddr, "error", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n, err := c.store.ApplyRemote(r.Context(), ops)
		switch {
		case errors.Is(err, store.ErrOwnOrigin), errors.Is(err, store.ErrEmptyKey), errors.Is(err, store.ErrKeyTooLong):
			c.log.Warn("refused a peer's operations", "peer", r.Header.Get(api.PeerHeader), "remote", r.RemoteAddr, "error", err)
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
		writeCBORTo(w, r, ops)
	})
	mux.HandleFunc("GET "+PathSnapshot, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/cbor-seq")
		zw, done := compressAnswer(w, r)
		defer done()
		if err := c.store.WriteSnapshot(zw); err != nil {
			c.log.Warn("snapshot stream failed", "error", err)
		}
	})
	return mux
}

func writeCBOR(w http.ResponseWriter, v any) { writeCBORTo(w, nil, v) }

// writeCBORTo answers v, compressed when r (if any) accepts zstd and the
// answer is worth it.
func writeCBORTo(w http.ResponseWriter, r *http.Request, v any) {
	b, err := cbor.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/cbor")
	if r != nil && len(b) >= compressMinBytes && acceptsZstd(r) {
		w.Header().Set("Content-Encoding", encodingZstd)
		w.Header().Add("Vary", "Accept-Encoding")
		b = compress(b)
	}
	_, _ = w.Write(b)
}
