package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/httpapi"
	"github.com/yzma/yzma/node/store"
)

func TestKeyPaths(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	tests := []struct {
		name    string
		putPath string // as sent
		getPath string // another spelling of the same key
		key     string
	}{
		{"literal slash", "/keys/a/b", "/keys/a%2Fb", "a/b"},
		{"escaped slash", "/keys/c%2Fd", "/keys/c/d", "c/d"},
		{"leading and double slash", "/keys//x//y", "/keys/%2Fx%2F%2Fy", "/x//y"},
		{"dot", "/keys/.", "/keys/%2E", "."},
		{"dot dot", "/keys/..", "/keys/%2E%2E", ".."},
		{"dot segments kept", "/keys/a/../b", "/keys/a%2F..%2Fb", "a/../b"},
		{"trailing slash", "/keys/dir/", "/keys/dir%2F", "dir/"},
		{"space", "/keys/hello%20world", "/keys/hello world", "hello world"},
		{"plus stays plus", "/keys/a+b", "/keys/a%2Bb", "a+b"},
		{"percent", "/keys/100%25", "/keys/100%25", "100%"},
		{"query chars", "/keys/q%3Fx%3D1%23f", "/keys/q%3fx%3d1%23f", "q?x=1#f"},
		{"colon and star", "/keys/a:b*c", "/keys/a%3Ab%2Ac", "a:b*c"},
		{"unicode", "/keys/" + url.PathEscape("ключ/🙂"), "/keys/ключ/🙂", "ключ/🙂"},
		{"not UTF-8", "/keys/%FF%00%FE", "/keys/%ff%00%fe", "\xff\x00\xfe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			value := "value of " + tt.name
			e.put(tt.putPath, value, "Content-Type", "text/plain")
			var got []byte
			r := e.do(http.MethodGet, tt.getPath, nil)
			r.wantOK(t, &got)
			if string(got) != value || r.header.Get(api.TypeHeader) != "text/plain" {
				t.Fatalf("GET %s = %q %q, want %q", tt.getPath, got, r.header.Get(api.TypeHeader), value)
			}
			item, err := e.node.Get([]byte(tt.key))
			if err != nil {
				t.Fatalf("node has no key %q: %v", tt.key, err)
			}
			if v := item.Shown().Value; string(v) != value {
				t.Fatalf("node key %q = %q", tt.key, v)
			}
		})
	}
}

func TestGetFormats(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	bin := []byte{0, 1, 2, 0xff, '\n'}
	e.put("/keys/typed", "<b>hi</b>", "Content-Type", "text/html; charset=utf-8")
	e.do(http.MethodPut, "/keys/untyped", bytes.NewReader(bin)).wantOK(t, nil)
	e.put("/keys/empty", "")

	tests := []struct {
		path     string
		wantBody []byte
		wantType string
	}{
		{"/keys/typed?raw=1", []byte("<b>hi</b>"), "text/html; charset=utf-8"},
		{"/keys/typed?raw=true", []byte("<b>hi</b>"), "text/html; charset=utf-8"},
		{"/keys/untyped?raw=1", bin, "application/octet-stream"},
		{"/keys/empty?raw=1", []byte{}, "application/octet-stream"},
	}
	for _, tt := range tests {
		r := e.do(http.MethodGet, tt.path, nil)
		if r.code != http.StatusOK || !bytes.Equal(r.body, tt.wantBody) || r.header.Get("Content-Type") != tt.wantType {
			t.Errorf("GET %s = %d %q %q, want %q %q", tt.path, r.code, r.header.Get("Content-Type"), r.body, tt.wantType, tt.wantBody)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff header", tt.path)
		}
		if r.header.Get(api.ContextHeader) == "" {
			t.Errorf("GET %s: no context header", tt.path)
		}
	}

	// The JSON forms: the original product's by default (Data the value in
	// base64, the type in a header), a Value with ?meta=1.
	jsonForms := []struct {
		path, want, wantType string
	}{
		{"/keys/untyped", `{"Status":"ok","Error":"","Data":"AAEC/wo="}`, ""},
		{"/keys/untyped?raw=0", `{"Status":"ok","Error":"","Data":"AAEC/wo="}`, ""},
		{"/keys/empty", `{"Status":"ok","Error":"","Data":""}`, ""},
		{"/keys/typed", `{"Status":"ok","Error":"","Data":"PGI+aGk8L2I+"}`, "text/html; charset=utf-8"},
		{"/keys/untyped?meta=1", `{"Status":"ok","Error":"","Data":{"Data":"AAEC/wo=","Type":""}}`, ""},
		{"/keys/typed?meta=true", `{"Status":"ok","Error":"","Data":{"Data":"PGI+aGk8L2I+","Type":"text/html; charset=utf-8"}}`, ""},
	}
	for _, tt := range jsonForms {
		r := e.do(http.MethodGet, tt.path, nil)
		if string(r.body) != tt.want || r.header.Get(api.TypeHeader) != tt.wantType {
			t.Errorf("GET %s = %s (type %q), want %s (type %q)", tt.path, r.body, r.header.Get(api.TypeHeader), tt.want, tt.wantType)
		}
	}
	for _, path := range []string{"/keys/typed?raw=1&meta=1", "/keys/typed?raw=1&siblings=1"} {
		e.do(http.MethodGet, path, nil).wantError(t, http.StatusBadRequest, "raw cannot be combined")
	}
}

// A client written for the original product reads Data as a base64 string
// and gets exactly the bytes written, whatever they are.
func TestOriginalClientsReadDataAsBase64(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	for _, value := range [][]byte{[]byte("hello"), {0, 0xff, '"', '\\', '\n'}, {}, bytes.Repeat([]byte("x"), 10000)} {
		e.do(http.MethodPut, "/keys/k", bytes.NewReader(value)).wantOK(t, nil)
		var answer struct{ Status, Error, Data string } // the original's documented shape
		r := e.do(http.MethodGet, "/keys/k", nil)
		if err := json.Unmarshal(r.body, &answer); err != nil {
			t.Fatalf("%s: %v", r.body, err)
		}
		got, err := base64.StdEncoding.DecodeString(answer.Data)
		if err != nil || answer.Status != "ok" || answer.Error != "" || !bytes.Equal(got, value) {
			t.Fatalf("answer %+v decodes to %q, %v; want ok and %q", answer, got, err, value)
		}
		if !strings.Contains(string(r.body), `"Error":""`) {
			t.Fatalf("answer %s has no Error field", r.body)
		}
	}
}

func TestGetNotFoundHasContext(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	for _, path := range []string{"/keys/never", "/keys/never?raw=1", "/keys/never?siblings=1"} {
		r := e.do(http.MethodGet, path, nil)
		r.wantError(t, http.StatusNotFound, "key not found")
		tok := r.header.Get(api.ContextHeader)
		c, err := crdt.DecodeToken(tok)
		if err != nil || !c.IsEmpty() {
			t.Fatalf("%s: context %q = %+v, %v; want an empty context", path, tok, c, err)
		}
	}
	// Writing with the "nothing seen" token of a 404 supersedes nothing.
	e.put("/keys/k", "A")
	tok := e.do(http.MethodGet, "/keys/gone", nil).header.Get(api.ContextHeader)
	e.put("/keys/k", "B", api.ContextHeader, tok)
	if n := len(siblings(t, e, "/keys/k")); n != 2 {
		t.Fatalf("siblings after a write with an empty context: %d, want 2", n)
	}
}

func TestPutAnswer(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	// Two siblings, the second written without seeing the first.
	var tokens []crdt.Context
	for _, method := range []string{http.MethodPut, http.MethodPost} {
		r := e.do(method, "/keys/k", strings.NewReader(method), api.ContextHeader, "oA")
		if r.code != http.StatusOK || string(r.body) != `{"Status":"ok","Error":""}` {
			t.Fatalf("%s = %d %s", method, r.code, r.body)
		}
		c, err := crdt.DecodeToken(r.header.Get(api.ContextHeader))
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, c)
	}
	item, err := e.node.Get([]byte("k"))
	if err != nil || len(item.Versions) != 2 {
		t.Fatalf("versions %+v, %v; want 2", item.Versions, err)
	}
	// Each write's token names its own version and not the other.
	for i, c := range tokens {
		mine, other := item.Versions[i].Dot, item.Versions[1-i].Dot
		if !c.Covers(mine) || c.Covers(other) {
			t.Fatalf("token %d %+v: covers %v = %v, covers %v = %v", i, c, mine, c.Covers(mine), other, c.Covers(other))
		}
	}
}

// siblings reads a key with ?siblings=1.
func siblings(t testing.TB, e *testEnv, path string) []api.Sibling {
	t.Helper()
	var v api.Value
	e.do(http.MethodGet, path+"?siblings=1", nil).wantOK(t, &v)
	return v.Siblings
}

func values(sibs []api.Sibling) []string {
	var out []string
	for _, s := range sibs {
		out = append(out, string(s.Data))
	}
	return out
}

func TestContextTokens(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	const k = "/keys/doc"

	tokA := e.put(k, "A").header.Get(api.ContextHeader)
	readA := e.do(http.MethodGet, k, nil).header.Get(api.ContextHeader)

	// Without a token a write replaces everything the node holds.
	e.put(k, "B")
	if got := values(siblings(t, e, k)); len(got) != 1 || got[0] != "B" {
		t.Fatalf("after blind overwrite: %q, want [B]", got)
	}

	// A stale token (it saw only A) leaves B alone: C becomes its sibling.
	e.put(k, "C", api.ContextHeader, readA)
	sibs := siblings(t, e, k)
	if got := values(sibs); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"B", "C"}) {
		t.Fatalf("after stale write: %q, want B and C", got)
	}
	for _, s := range sibs {
		if s.Node != e.node.Origin().String() || s.Counter == 0 || s.Time.IsZero() || s.Type != "" {
			t.Fatalf("sibling %+v: want origin %s, a counter and a time", s, e.node.Origin())
		}
	}
	var shown api.Value
	e.do(http.MethodGet, k+"?siblings=1", nil).wantOK(t, &shown)
	if string(shown.Data) != "C" {
		t.Fatalf("shown %q, want the later write C", shown.Data)
	}
	// The token of A's write is just as stale.
	e.put(k, "D", api.ContextHeader, tokA)
	if n := len(siblings(t, e, k)); n != 3 {
		t.Fatalf("after a second stale write: %d siblings, want 3", n)
	}

	// A fresh read's token supersedes all of them.
	fresh := e.do(http.MethodGet, k, nil).header.Get(api.ContextHeader)
	tokE := e.put(k, "E", api.ContextHeader, fresh).header.Get(api.ContextHeader)
	if got := values(siblings(t, e, k)); len(got) != 1 || got[0] != "E" {
		t.Fatalf("after a write with a fresh token: %q, want [E]", got)
	}

	// A delete with a write's token removes just that write, even when the
	// sibling it leaves was written earlier on the same node.
	tokF := e.put(k, "F", api.ContextHeader, readA).header.Get(api.ContextHeader) // sibling of E
	e.do(http.MethodDelete, k, nil, api.ContextHeader, tokF).wantOK(t, nil)
	if got := values(siblings(t, e, k)); len(got) != 1 || got[0] != "E" {
		t.Fatalf("after deleting F by its token: %q, want [E]", got)
	}
	e.do(http.MethodDelete, k, nil, api.ContextHeader, tokE).wantOK(t, nil)
	e.do(http.MethodGet, k, nil).wantError(t, http.StatusNotFound, "not found")
}

func TestDelete(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	e.do(http.MethodDelete, "/keys/never", nil).wantError(t, http.StatusNotFound, "key not found")
	e.put("/keys/k", "v")
	e.do(http.MethodDelete, "/keys/k", nil).wantOK(t, nil)
	e.do(http.MethodGet, "/keys/k", nil).wantError(t, http.StatusNotFound, "key not found")
	e.do(http.MethodDelete, "/keys/k", nil).wantError(t, http.StatusNotFound, "key not found")
}

func TestPrefixKeysIndependent(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	e.put("/keys/foo", "1")
	e.put("/keys/foobar", "2")
	e.put("/keys/foo%2Fbar", "3")
	e.do(http.MethodDelete, "/keys/foo", nil).wantOK(t, nil)
	e.do(http.MethodGet, "/keys/foo", nil).wantError(t, http.StatusNotFound, "not found")
	for path, want := range map[string]string{"/keys/foobar": "2", "/keys/foo/bar": "3"} {
		if r := e.do(http.MethodGet, path+"?raw=1", nil); string(r.body) != want {
			t.Fatalf("GET %s = %q, want %q", path, r.body, want)
		}
	}
	e.put("/keys/foo", "4")
	if r := e.do(http.MethodGet, "/keys/foobar?raw=1", nil); string(r.body) != "2" {
		t.Fatalf("foobar changed by a write of foo: %q", r.body)
	}
}

func TestBadKeyRequests(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	e.put("/keys/k", "v")
	long := "/keys/" + strings.Repeat("x", store.MaxKeyLen+1)
	tests := []struct {
		name    string
		method  string
		path    string
		headers []string
		code    int
		msg     string
	}{
		{"empty key get", http.MethodGet, "/keys/", nil, 400, "empty key"},
		{"empty key put", http.MethodPut, "/keys/", nil, 400, "empty key"},
		{"empty key delete", http.MethodDelete, "/keys/", nil, 400, "empty key"},
		{"long key get", http.MethodGet, long, nil, 400, "the limit is 4096 bytes"},
		{"long key put", http.MethodPut, long, nil, 400, "the limit is 4096 bytes"},
		{"bad token put", http.MethodPut, "/keys/k", []string{api.ContextHeader, "!!notatoken"}, 400, "bad X-Yzma-Context"},
		{"token not CBOR", http.MethodPut, "/keys/k", []string{api.ContextHeader, "AAAA"}, 400, "bad X-Yzma-Context"},
		{"empty token", http.MethodPut, "/keys/k", []string{api.ContextHeader, ""}, 400, "bad X-Yzma-Context"},
		{"two tokens", http.MethodPut, "/keys/k", []string{api.ContextHeader, "oA", api.ContextHeader, "oA"}, 400, "at most one"},
		{"bad token delete", http.MethodDelete, "/keys/k", []string{api.ContextHeader, "%%"}, 400, "bad X-Yzma-Context"},
		{"bad raw flag", http.MethodGet, "/keys/k?raw=yes", nil, 400, `raw="yes"`},
		{"bad siblings flag", http.MethodGet, "/keys/k?siblings=2", nil, 400, `siblings="2"`},
		{"raw and siblings", http.MethodGet, "/keys/k?raw=1&siblings=1", nil, 400, "cannot be combined"},
		{"bad query escape", http.MethodGet, "/keys/k?raw=%zz", nil, 400, "bad query string"},
		{"unknown method", http.MethodPatch, "/keys/k", nil, 405, "method PATCH not allowed on /keys/*"},
		{"put on list", http.MethodPut, "/keys", nil, 405, "not allowed"},
		{"post healthz", http.MethodPost, "/healthz", nil, 405, "not allowed"},
		{"get join", http.MethodGet, "/cluster/join", nil, 405, "not allowed"},
		{"unknown route", http.MethodGet, "/nope", nil, 404, "no such endpoint: GET /nope"},
		{"keys without slash prefix", http.MethodGet, "/keysx", nil, 404, "no such endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, strings.NewReader("new"), tt.headers...)
			r.wantError(t, tt.code, tt.msg)
			if tt.code == 405 && r.header.Get("Allow") == "" {
				t.Fatal("405 without an Allow header")
			}
		})
	}
	if r := e.do(http.MethodGet, "/keys/k?raw=1", nil); string(r.body) != "v" {
		t.Fatalf("a rejected request changed the key: %q", r.body)
	}
	// Go's server rejects a malformed escape in the path before any handler
	// runs, with a plain 400.
	if code := e.rawRequest("GET /keys/a%zz HTTP/1.1"); code != http.StatusBadRequest {
		t.Fatalf("bad path escape: %d, want 400", code)
	}
}

// opaqueReader hides its type so the client cannot learn the length and
// sends the body chunked, without Content-Length.
type opaqueReader struct{ r *strings.Reader }

func (o opaqueReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestBodyLimit(t *testing.T) {
	const limit = 1024
	e := newEnv(t, httpapi.Options{MaxBodyBytes: limit})
	tests := []struct {
		name    string
		size    int
		chunked bool
		code    int
	}{
		{"at limit", limit, false, 200},
		{"at limit chunked", limit, true, 200},
		{"over limit", limit + 1, false, 413},
		{"over limit chunked", limit + 1, true, 413},
		{"far over limit chunked", 64 * limit, true, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "/keys/" + url.PathEscape(tt.name)
			body := strings.Repeat("x", tt.size)
			rd := strings.NewReader(body)
			req, err := http.NewRequest(http.MethodPut, e.srv.URL+key, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.chunked {
				req.Body = readCloser{opaqueReader{rd}}
				req.ContentLength = -1
			} else {
				req.Body, req.ContentLength = readCloser{rd}, int64(tt.size)
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.code)
			}
			_, err = e.node.Get([]byte(tt.name))
			if stored := err == nil; stored != (tt.code == 200) {
				t.Fatalf("stored = %v after %d", stored, tt.code)
			}
			if tt.code == 413 && !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Get after 413: %v", err)
			}
		})
	}
}

type readCloser struct {
	r interface{ Read([]byte) (int, error) }
}

func (rc readCloser) Read(p []byte) (int, error) { return rc.r.Read(p) }
func (rc readCloser) Close() error               { return nil }

func TestPutTTL(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	tests := []struct {
		name, query, header string
		ok                  bool
	}{
		{"query", "?ttl=30s", "", true},
		{"header", "", "1h30m", true},
		{"seconds", "?ttl=30", "", true},
		{"both agree", "?ttl=5s", "5s", true},
		{"both disagree", "?ttl=5s", "6s", false},
		{"zero", "?ttl=0s", "", false},
		{"negative", "?ttl=-1s", "", false},
		{"garbage", "?ttl=soon", "", false},
		{"too long", "?ttl=100000h", "", false},
		{"bad query", "?ttl=%zz", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.header != "" {
				hdr = []string{api.TTLHeader, tt.header}
			}
			r := e.do(http.MethodPut, "/keys/ttl"+tt.query, strings.NewReader("v"), hdr...)
			if !tt.ok {
				r.wantError(t, http.StatusBadRequest, "")
				return
			}
			r.wantOK(t, nil)
			var v api.Value
			e.do(http.MethodGet, "/keys/ttl?meta=1", nil).wantOK(t, &v)
			if v.Expires == nil || time.Until(*v.Expires) <= 0 || time.Until(*v.Expires) > 2*time.Hour {
				t.Fatalf("expires %v", v.Expires)
			}
		})
	}
	e.put("/keys/ttl", "no ttl")
	var v api.Value
	e.do(http.MethodGet, "/keys/ttl?meta=1", nil).wantOK(t, &v)
	if v.Expires != nil {
		t.Fatalf("a write without TTL shows expires %v", v.Expires)
	}
}
