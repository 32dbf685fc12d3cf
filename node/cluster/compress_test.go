package cluster

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/yzma/yzma/node/crdt"
)

// getRaw calls a node's data channel over HTTP with the given headers and
// returns the answer's Content-Encoding and its body, decompressed.
func getRaw(t *testing.T, url string, hdr ...string) (string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	req.Header.Set("Accept-Encoding", req.Header.Get("Accept-Encoding")) // no transparent gzip from net/http
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	body, err := decodedBody(resp.Body, resp.Header.Get("Content-Encoding"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Get("Content-Encoding"), b
}

// TestCompressionIsNegotiated: answers are compressed only for callers
// that ask (an older member does not and gets them plain), decompress to
// exactly the plain answer, and a compressed push is taken; an encoding
// the node does not know is refused.
func TestCompressionIsNegotiated(t *testing.T) {
	tnet := newTestNet(t)
	n := tnet.startCluster(1)[0]
	loadKeys(t, n, 2000, 100)
	base := "http://" + n.api
	pull := fmt.Sprintf("%s%s?origin=%s&after=0&limit=500&maxBytes=1000000", base, PathOps, crdt.NodeID(0x5eed))
	for _, path := range []string{base + PathSnapshot, pull} {
		plainEnc, plain := getRaw(t, path)
		zEnc, z := getRaw(t, path, "Accept-Encoding", "gzip, zstd;q=0.9")
		if plainEnc != "" || zEnc != encodingZstd {
			t.Fatalf("%s: Content-Encoding %q without asking, %q asking for zstd", path, plainEnc, zEnc)
		}
		if !bytes.Equal(plain, z) {
			t.Fatalf("%s: the compressed answer decompresses to something else", path)
		}
	}

	op := crdt.Op{Key: []byte("pushed"), Dot: crdt.Dot{Node: 0x0bad, Counter: 1}, Value: bytes.Repeat([]byte("x"), 8<<10)}
	body, err := cbor.Marshal([]crdt.Op{op})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		encoding string
		body     []byte
		code     int
	}{
		{encodingZstd, compress(body), http.StatusOK},
		{"gzip", body, http.StatusUnsupportedMediaType},
		{encodingZstd, []byte("not zstd at all"), http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(http.MethodPost, base+PathOps, bytes.NewReader(tt.body))
		req.Header.Set("Content-Encoding", tt.encoding)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Fatalf("push with Content-Encoding %s: %s %s, want %d", tt.encoding, resp.Status, msg, tt.code)
		}
	}
	if v, _ := get(t, n, "pushed"); v != string(op.Value) {
		t.Fatalf("the compressed push was not applied")
	}
}

// TestTransportTalksToOlderMembers: the transport compresses a push only
// for a member that says it takes zstd, and reads a plain answer from a
// member that ignores Accept-Encoding.
func TestTransportTalksToOlderMembers(t *testing.T) {
	var encodings []string
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			encodings = append(encodings, r.Header.Get("Content-Encoding"))
			if _, err := DecodeOps(r.Body); err != nil { // an older member reads plain CBOR only
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		writeCBOR(w, crdt.VersionVector{1: 1})
	}))
	t.Cleanup(old.Close)
	ops := []crdt.Op{{Key: []byte("k"), Dot: crdt.Dot{Node: 1, Counter: 1}, Value: []byte(strings.Repeat("v", 8<<10))}}
	tr := &HTTPTransport{}
	addr := old.Listener.Addr().String()
	if _, err := tr.Push(t.Context(), Endpoint{Addr: addr}, ops); err != nil {
		t.Fatalf("push to an older member: %v", err)
	}
	if _, err := tr.Push(t.Context(), Endpoint{Addr: addr, Zstd: true}, ops); err == nil {
		t.Fatal("a compressed push was read as plain") // the stand-in refuses zstd: the push was compressed
	}
	if encodings[0] != "" || encodings[1] != encodingZstd {
		t.Fatalf("Content-Encodings %q, want plain then zstd", encodings)
	}
	if vv, err := tr.VersionVector(t.Context(), Endpoint{Addr: addr}); err != nil || vv[1] != 1 {
		t.Fatalf("plain answer to a call asking for zstd: %v, %v", vv, err)
	}
}
