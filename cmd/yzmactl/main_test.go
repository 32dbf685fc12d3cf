package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/yzma/yzma/internal/testpki"
	"github.com/yzma/yzma/node"
	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/creds"
	"github.com/yzma/yzma/node/httpapi"
)

// ctl runs yzmactl commands in-process against one real node.
type ctl struct {
	t   *testing.T
	env map[string]string
}

func newCtl(t *testing.T, opts httpapi.Options) *ctl {
	t.Helper()
	n, err := node.Open(node.Options{DBPath: filepath.Join(t.TempDir(), "data.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	h, err := httpapi.New(n, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &ctl{t: t, env: map[string]string{"YZMA_SERVER": srv.URL}}
}

type result struct {
	code           int
	stdout, stderr string
}

func (c *ctl) run(stdin string, args ...string) result {
	c.t.Helper()
	var out, errOut bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
	code := execute(context.Background(), args, strings.NewReader(stdin), &out, &errOut, lookup)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// ok runs a command that must succeed and returns its stdout.
func (c *ctl) ok(stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != exitOK {
		c.t.Fatalf("yzmactl %q: exit %d, stderr %q", args, r.code, r.stderr)
	}
	return r.stdout
}

func TestPutGetDel(t *testing.T) {
	c := newCtl(t, httpapi.Options{})
	file := filepath.Join(t.TempDir(), "value.bin")
	if err := os.WriteFile(file, []byte{0, 1, 2, 0xff}, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		key   string
		stdin string
		args  []string
		want  string
		typ   string
	}{
		{"argument", "a/b", "", []string{"hello"}, "hello", ""},
		{"stdin", "from stdin", "piped\nvalue\n", nil, "piped\nvalue\n", ""},
		{"file", "bin", "", []string{"--file", file, "--type", "application/x-thing"}, "\x00\x01\x02\xff", "application/x-thing"},
		{"typed", "ключ", "", []string{"<b/>", "--type", "text/html"}, "<b/>", "text/html"},
		{"empty value", "empty", "", []string{""}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"put", tt.key}, tt.args...)
			if tok := strings.TrimSpace(c.ok(tt.stdin, args...)); tok == "" {
				t.Fatal("put printed no context token")
			}
			if got := c.ok("", "get", tt.key); got != tt.want {
				t.Fatalf("get = %q, want %q", got, tt.want)
			}
			var res getOutput
			if err := json.Unmarshal([]byte(c.ok("", "get", "--json", tt.key)), &res); err != nil {
				t.Fatal(err)
			}
			if res.Key != tt.key || string(res.Data) != tt.want || res.Type != tt.typ || res.Context == "" {
				t.Fatalf("get --json = %+v", res)
			}
		})
	}

	c.ok("", "del", "a/b")
	r := c.run("", "get", "a/b")
	if r.code != exitNotFound || r.stderr != "not found\n" || r.stdout != "" {
		t.Fatalf("get after del: %+v, want exit 1 and \"not found\"", r)
	}
	if r := c.run("", "del", "a/b"); r.code != exitNotFound || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("second del: %+v", r)
	}
}

func TestSiblingsAndContext(t *testing.T) {
	c := newCtl(t, httpapi.Options{})
	c.ok("", "put", "k", "A")
	var read getOutput
	if err := json.Unmarshal([]byte(c.ok("", "get", "--json", "k")), &read); err != nil {
		t.Fatal(err)
	}
	c.ok("", "put", "k", "B")                                    // replaces A
	tokC := c.ok("", "put", "k", "C", "--context", read.Context) // stale: B survives
	var sibs getOutput
	if err := json.Unmarshal([]byte(c.ok("", "get", "--siblings", "k")), &sibs); err != nil {
		t.Fatal(err)
	}
	if len(sibs.Siblings) != 2 || string(sibs.Data) != "C" {
		t.Fatalf("get --siblings = %+v, want B and C with C shown", sibs)
	}
	c.ok("", "del", "k", "--context", strings.TrimSpace(tokC))
	if got := c.ok("", "get", "k"); got != "B" {
		t.Fatalf("after deleting C by its token: %q, want B", got)
	}
}

func TestList(t *testing.T) {
	c := newCtl(t, httpapi.Options{})
	for _, k := range []string{"a", "b/1", "b/2", "tab\tkey", "c\xff"} {
		c.ok("", "put", k, "v", "--type", "text/plain")
	}
	tests := []struct {
		args     []string
		want     string
		wantMore string
	}{
		{[]string{"list"}, "a\t1\ttext/plain\t1\nb/1\t1\ttext/plain\t1\nb/2\t1\ttext/plain\t1\n\"c\\xff\"\t1\ttext/plain\t1\n\"tab\\tkey\"\t1\ttext/plain\t1\n", ""},
		{[]string{"list", "--prefix", "b/"}, "b/1\t1\ttext/plain\t1\nb/2\t1\ttext/plain\t1\n", ""},
		{[]string{"list", "--limit", "2"}, "a\t1\ttext/plain\t1\nb/1\t1\ttext/plain\t1\n", "more keys: --after b/1\n"},
		{[]string{"list", "--limit", "2", "--after", "b/1"}, "b/2\t1\ttext/plain\t1\n\"c\\xff\"\t1\ttext/plain\t1\n", "more keys: --after \"c\\xff\"\n"},
	}
	for _, tt := range tests {
		r := c.run("", tt.args...)
		if r.code != exitOK || r.stdout != tt.want || r.stderr != tt.wantMore {
			t.Errorf("yzmactl %q = %d\n%q\n%q\nwant\n%q\n%q", tt.args, r.code, r.stdout, r.stderr, tt.want, tt.wantMore)
		}
	}
	var page api.KeyList
	if err := json.Unmarshal([]byte(c.ok("", "list", "--json", "--prefix", "c")), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Keys) != 1 || string(page.Keys[0].KeyBase64) != "c\xff" {
		t.Fatalf("list --json = %+v, want exact bytes of c\\xff", page)
	}
}

func TestErrors(t *testing.T) {
	c := newCtl(t, httpapi.Options{AuthToken: "tok"})
	tests := []struct {
		name string
		env  map[string]string
		args []string
		msg  string
	}{
		{"no token", nil, []string{"get", "k"}, "401 Unauthorized: missing bearer token"},
		{"wrong token flag", nil, []string{"get", "k", "--token", "bad"}, "invalid bearer token"},
		{"missing key argument", nil, []string{"get"}, "accepts 1 arg(s)"},
		{"too many put arguments", nil, []string{"put", "k", "v", "w"}, "accepts between 1 and 2 arg(s)"},
		{"value and file", nil, []string{"put", "k", "v", "--file", "x", "--token", "tok"}, "not both"},
		{"missing file", nil, []string{"put", "k", "--file", "/nonexistent/x", "--token", "tok"}, "read value"},
		{"bad context", nil, []string{"put", "k", "v", "--context", "!!", "--token", "tok"}, "400 Bad Request: bad X-Yzma-Context"},
		{"bad limit", nil, []string{"list", "--limit", "5000", "--token", "tok"}, "limit"},
		{"bad server", map[string]string{"YZMA_SERVER": "nonsense"}, []string{"get", "k"}, "base URL"},
		{"unknown command", nil, []string{"frob"}, "unknown command"},
		{"rejoin standalone", nil, []string{"rejoin", "--token", "tok"}, "501 Not Implemented: node runs without clustering"},
		{"rejoin arguments", nil, []string{"rejoin", "x"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := c.env
			if tt.env != nil {
				c.env = tt.env
			}
			defer func() { c.env = saved }()
			r := c.run("", tt.args...)
			if r.code != exitError || !strings.Contains(r.stderr, tt.msg) {
				t.Fatalf("exit %d stderr %q, want exit 2 mentioning %q", r.code, r.stderr, tt.msg)
			}
		})
	}
	// The token from the environment works, and so does the flag.
	c.env["YZMA_TOKEN"] = "tok"
	c.ok("", "put", "k", "v")
	delete(c.env, "YZMA_TOKEN")
	if got := c.ok("", "get", "k", "--token", "tok"); got != "v" {
		t.Fatalf("get with --token = %q", got)
	}
}

// failWriter is a stdout that cannot be written, like a full disk.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left") }

func TestStdoutWriteError(t *testing.T) {
	c := newCtl(t, httpapi.Options{})
	c.ok("", "put", "k", "v")
	lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
	for _, args := range [][]string{{"put", "k", "w"}, {"list"}, {"get", "k"}} {
		var errOut bytes.Buffer
		code := execute(context.Background(), args, strings.NewReader(""), failWriter{}, &errOut, lookup)
		if code != exitError || !strings.Contains(errOut.String(), "no space left") {
			t.Errorf("yzmactl %q with stdout failing: exit %d, stderr %q; want exit 2 and the write error", args, code, errOut.String())
		}
	}
}

// Inside a node's container (kubectl exec), yzmactl talks to that node.
func TestLocalServer(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{nil, defaultServer},
		{map[string]string{"YZMA_API_BIND": ":8080"}, "http://127.0.0.1:8080"},
		{map[string]string{"YZMA_API_BIND": ":9000", "YZMA_BIND_HOST": "127.1.0.7"}, "http://127.1.0.7:9000"},
		{map[string]string{"YZMA_API_BIND": "10.0.0.5:8080", "YZMA_BIND_HOST": "127.1.0.7"}, "http://10.0.0.5:8080"},
		{map[string]string{"YZMA_API_BIND": "nonsense"}, defaultServer},
		{map[string]string{"YZMA_API_BIND": ":8443", "YZMA_TLS_CERT_FILE": "/tls/tls.crt"}, "https://127.0.0.1:8443"},
	} {
		lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
		if got := localServer(lookup); got != tt.want {
			t.Errorf("env %v: %s, want %s", tt.env, got, tt.want)
		}
	}
}

// TestTLSAndPodDefaults: inside a node's container, yzmactl finds the node
// over HTTPS from its environment alone (CA, certificate name, the first
// read-write token of its tokens file); from outside it needs --cacert and
// a token, and fails on a node it cannot verify.
func TestTLSAndPodDefaults(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "cluster CA")
	files := ca.WriteFiles(t, filepath.Join(dir, "tls"), "pod-0.peers.test")
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("ro reader\nrw admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := node.Open(node.Options{DBPath: filepath.Join(dir, "data.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	tk, err := creds.NewFile(func(raw [][]byte) (creds.Tokens, error) { return creds.ParseTokens(raw[0]) }, tokens)
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(n, httpapi.Options{Auth: httpapi.Auth{Tokens: tk}})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := creds.NewTLS(files.Cert, files.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = kp.ServerConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	pod := &ctl{t: t, env: map[string]string{
		"YZMA_API_BIND": ":" + port, "YZMA_TLS_CERT_FILE": files.Cert, "YZMA_TLS_CA_FILE": files.CA,
		"YZMA_API_ADVERTISE_NAME": "pod-0.peers.test", "YZMA_AUTH_TOKEN_FILE": tokens,
	}}
	pod.ok("", "put", "k", "from the pod")
	if got := pod.ok("", "get", "k"); got != "from the pod" {
		t.Fatalf("get in the pod: %q", got)
	}

	outside := &ctl{t: t, env: map[string]string{"YZMA_SERVER": "https://" + srv.Listener.Addr().String()}}
	if r := outside.run("", "get", "k", "--token", "reader", "--cacert", files.CA, "--server-name", "pod-0.peers.test"); r.code != exitOK || r.stdout != "from the pod" {
		t.Fatalf("reader with --cacert: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := outside.run("v", "put", "k", "--token", "reader", "--cacert", files.CA, "--server-name", "pod-0.peers.test"); r.code != exitError || !strings.Contains(r.stderr, "403") {
		t.Fatalf("put with a read-only token: %d %q", r.code, r.stderr)
	}
	if r := outside.run("", "get", "k", "--token", "admin"); r.code != exitError || !strings.Contains(r.stderr, "certificate") {
		t.Fatalf("without the CA: %d %q", r.code, r.stderr)
	}
	if r := outside.run("", "get", "k", "--token", "admin", "--cacert", files.CA); r.code != exitError || !strings.Contains(r.stderr, "certificate") {
		t.Fatalf("the node's IP is not its certificate's name: %d %q", r.code, r.stderr)
	}
}

// TestDNSServer: --dns-server (YZMA_DNS_SERVER, as the local Kubernetes
// gives every container) resolves --server's host.
func TestDNSServer(t *testing.T) {
	c := newCtl(t, httpapi.Options{})
	c.ok("v", "put", "k")
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Name == "yzma.cluster.test." && q.Question[0].Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5},
				A: net.ParseIP("127.0.0.1")})
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(c.env["YZMA_SERVER"], "http://"))
	c.env["YZMA_SERVER"] = "http://yzma.cluster.test:" + port
	if r := c.run("", "get", "k"); r.code != exitError {
		t.Fatalf("without the DNS server: %+v", r)
	}
	c.env["YZMA_DNS_SERVER"] = pc.LocalAddr().String()
	if got := c.ok("", "get", "k"); got != "v" {
		t.Fatalf("get through the DNS server: %q", got)
	}
}
