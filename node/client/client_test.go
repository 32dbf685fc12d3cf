package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yzma/yzma/node"
	"github.com/yzma/yzma/node/client"
	"github.com/yzma/yzma/node/httpapi"
)

// newAPI opens a node (its data file in t.TempDir unless opts names one)
// and its API handler, closed at cleanup.
func newAPI(t *testing.T, opts node.Options, hopts httpapi.Options) (*node.Node, http.Handler) {
	t.Helper()
	if opts.DBPath == "" {
		opts.DBPath = filepath.Join(t.TempDir(), "data.db")
	}
	n, err := node.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	h, err := httpapi.New(n, hopts)
	if err != nil {
		t.Fatal(err)
	}
	return n, h
}

// serve starts a real node and API and returns a client for it.
func serve(t *testing.T, opts httpapi.Options, copts ...client.Option) *client.Client {
	t.Helper()
	_, h := newAPI(t, node.Options{}, opts)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL+"/", copts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func wantAPIError(t *testing.T, err error, code int, msg string) {
	t.Helper()
	apiErr, ok := errors.AsType[*client.APIError](err)
	if !ok || apiErr.StatusCode != code || !strings.Contains(apiErr.Message, msg) {
		t.Fatalf("err = %v, want an APIError %d mentioning %q", err, code, msg)
	}
}

func TestNew(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://h", "http://", "://x"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "https://h:1/", "http://h/prefix"} {
		if _, err := client.New(u); err != nil {
			t.Errorf("New(%q): %v", u, err)
		}
	}
}

func TestKeys(t *testing.T) {
	c := serve(t, httpapi.Options{})
	for _, key := range []string{"plain", "a/b", "/lead", "dir/", ".", "..", "a/../b", "with space", "100%", "q?x=1#f", "a+b", "ключ/🙂", "\xff\x00"} {
		t.Run(key, func(t *testing.T) {
			want := []byte("value of " + key)
			if _, err := c.Put(ctx(t), key, want, "text/plain"); err != nil {
				t.Fatal(err)
			}
			got, err := c.Get(ctx(t), key)
			if err != nil || string(got.Data) != string(want) || got.Type != "text/plain" || got.Context == "" {
				t.Fatalf("Get = %+v, %v", got, err)
			}
			var raw strings.Builder
			ct, err := c.GetRaw(ctx(t), key, &raw)
			if err != nil || raw.String() != string(want) || ct != "text/plain" {
				t.Fatalf("GetRaw = %q %q, %v", raw.String(), ct, err)
			}
		})
	}
	// "foo" and "foobar" do not touch.
	if err := c.Delete(ctx(t), "plai"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Delete of a prefix of a key: %v", err)
	}
	if _, err := c.Get(ctx(t), "plain"); err != nil {
		t.Fatal(err)
	}
}

func TestNotFound(t *testing.T) {
	c := serve(t, httpapi.Options{})
	if _, err := c.Get(ctx(t), "none"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Get: %v", err)
	}
	if _, err := c.GetSiblings(ctx(t), "none"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("GetSiblings: %v", err)
	}
	if _, err := c.GetRaw(ctx(t), "none", &strings.Builder{}); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("GetRaw: %v", err)
	}
	if _, err := c.Put(ctx(t), "k", []byte("v"), ""); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx(t), "k"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx(t), "k"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestContextTokens(t *testing.T) {
	c := serve(t, httpapi.Options{})
	if _, err := c.Put(ctx(t), "k", []byte("A"), ""); err != nil {
		t.Fatal(err)
	}
	readA, err := c.Get(ctx(t), "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx(t), "k", []byte("B"), ""); err != nil { // replaces A
		t.Fatal(err)
	}
	tokC, err := c.Put(ctx(t), "k", []byte("C"), "text/c", client.WithContextToken(readA.Context)) // B survives
	if err != nil {
		t.Fatal(err)
	}
	sibs, err := c.GetSiblings(ctx(t), "k")
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, s := range sibs.Versions {
		vals = append(vals, string(s.Data))
		if len(s.Node) != 16 || s.Counter == 0 || s.Time.IsZero() {
			t.Fatalf("sibling %+v lacks its origin", s)
		}
	}
	slices.Sort(vals)
	if !slices.Equal(vals, []string{"B", "C"}) || string(sibs.Data) != "C" || sibs.Type != "text/c" {
		t.Fatalf("siblings %q shown %q %q, want B and C, C shown", vals, sibs.Data, sibs.Type)
	}
	// Deleting with C's token leaves B.
	if err := c.Delete(ctx(t), "k", client.WithContextToken(tokC)); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx(t), "k"); err != nil || string(v.Data) != "B" {
		t.Fatalf("after deleting C: %q, %v", v.Data, err)
	}
	_, err = c.Put(ctx(t), "k", []byte("x"), "", client.WithContextToken("garbage!"))
	wantAPIError(t, err, http.StatusBadRequest, "X-Yzma-Context")
}

func TestList(t *testing.T) {
	c := serve(t, httpapi.Options{})
	keys := []string{"a", "b/1", "b/2", "b\xff", "c"}
	for _, k := range keys {
		if _, err := c.Put(ctx(t), k, []byte(k), "text/plain"); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > len(keys) {
			t.Fatal("listing does not end")
		}
		p, err := c.List(ctx(t), "", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Keys {
			got = append(got, e.Key)
			if e.Size != len(e.Key) || e.Type != "text/plain" || e.Siblings != 1 {
				t.Fatalf("entry %+v", e)
			}
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	if !slices.Equal(got, keys) {
		t.Fatalf("listed %q, want %q", got, keys)
	}
	p, err := c.List(ctx(t), "b", "", 0)
	if err != nil || len(p.Keys) != 3 || p.Next != "" {
		t.Fatalf("prefix b: %+v, %v", p, err)
	}
	_, err = c.List(ctx(t), "", "", 5000)
	wantAPIError(t, err, http.StatusBadRequest, "limit")
}

func TestOps(t *testing.T) {
	c := serve(t, httpapi.Options{})
	if err := c.Healthz(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Readyz(ctx(t)); err != nil {
		t.Fatal(err)
	}
	wantAPIError(t, c.Join(ctx(t), []string{"127.0.0.1:7946"}), http.StatusNotImplemented, "without clustering")
	wantAPIError(t, c.Join(ctx(t), []string{"nohost"}), http.StatusBadRequest, "Peers[0]")
	wantAPIError(t, c.Rejoin(ctx(t)), http.StatusNotImplemented, "without clustering")
	_, err := c.Leave(ctx(t))
	wantAPIError(t, err, http.StatusNotImplemented, "without clustering")
	_, err = c.Members(ctx(t))
	wantAPIError(t, err, http.StatusNotImplemented, "without clustering")
}

func TestBearerToken(t *testing.T) {
	opts := httpapi.Options{AuthToken: "tok"}
	without := serve(t, opts)
	_, err := without.Put(ctx(t), "k", []byte("v"), "")
	wantAPIError(t, err, http.StatusUnauthorized, "bearer token")
	if err := without.Healthz(ctx(t)); err != nil {
		t.Fatalf("healthz needs no token: %v", err)
	}
	with := serve(t, opts, client.WithBearerToken("tok"), client.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
	if _, err := with.Put(ctx(t), "k", []byte("v"), ""); err != nil {
		t.Fatal(err)
	}
}

func TestNonEnvelopeErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/keys/missing") {
			http.Error(w, "gone", http.StatusNotFound)
			return
		}
		http.Error(w, "proxy exploded", http.StatusBadGateway)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(ctx(t), "k")
	wantAPIError(t, err, http.StatusBadGateway, "proxy exploded")
	if _, err := c.Get(ctx(t), "missing"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("plain 404: %v", err)
	}
}
