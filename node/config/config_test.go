package config

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/yzma/yzma/node/creds"
)

// env returns a lookup func over a fixed map, so tests never touch the
// process environment.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := LoadWith("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		API: API{Bind: "127.0.0.1:8080", MaxBodyBytes: 16 << 20, ReadHeaderTimeout: Duration(10 * time.Second),
			ReadTimeout: Duration(60 * time.Second), IdleTimeout: Duration(2 * time.Minute)},
		Peering: Peering{Name: host, BindAddr: "0.0.0.0", BindPort: 7946, AdvertisePort: 7946,
			JoinTimeout: Duration(30 * time.Second), DeadMemberGrace: Duration(time.Hour), MaxLogBytes: 1 << 30},
		Server: Server{DBPath: "yzma.db", MaxQueuedWrites: 4096, MaxQueuedBytes: 256 << 20},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
}

func TestLoadFileAndEnv(t *testing.T) {
	file := writeFile(t, "yzma.json", `{
		"API": {"Bind": "127.0.0.1:9000", "MaxBodyBytes": 1024, "AuthToken": "file-token",
		        "ReadHeaderTimeout": "5s", "ReadTimeout": "1m30s", "IdleTimeout": "0s"},
		"Peering": {"Name": "n1", "BindAddr": "127.0.0.1", "BindPort": 8000,
		            "AdvertiseAddress": "10.1.2.3", "Join": ["a:1", "b:2"],
		            "SeedDNS": "seeds.example", "GossipKey": "MDEyMzQ1Njc4OWFiY2RlZg==",
		            "PeerToken": "file-peer", "DeadMemberGrace": "30m", "MaxLogBytes": 1000000},
		"Server": {"DBPath": "/data/file.db", "MaxQueuedWrites": 100, "MaxQueuedBytes": 4096}
	}`)
	tests := []struct {
		name string
		env  map[string]string
		want func(c *Config)
	}{
		{"file only", nil, func(c *Config) {}},
		{"string overrides", map[string]string{
			"YZMA_API_BIND":                  "127.0.0.1:9100",
			"YZMA_PEERING_NAME":              "env-name",
			"YZMA_PEERING_BIND_ADDR":         "::1",
			"YZMA_PEERING_ADVERTISE_ADDRESS": "10.9.9.9",
			"YZMA_PEERING_SEED_DNS":          "other.example",
			"YZMA_DNS_SERVER":                "10.96.0.10:53",
			"YZMA_GOSSIP_KEY":                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
			"YZMA_DB_PATH":                   "/env/db",
			"YZMA_AUTH_TOKEN":                "env-token",
			"YZMA_TLS_CERT_FILE":             "/c.pem",
			"YZMA_TLS_KEY_FILE":              "/k.pem",
			"YZMA_TLS_CA_FILE":               "/ca.pem",
			"YZMA_API_ADVERTISE_NAME":        "n1.peers.example",
		}, func(c *Config) {
			c.API.TLSCAFile, c.API.AdvertiseName = "/ca.pem", "n1.peers.example"
			c.API.Bind = "127.0.0.1:9100"
			c.Peering.Name = "env-name"
			c.Peering.BindAddr = "::1"
			c.Peering.AdvertiseAddress = "10.9.9.9"
			c.Peering.SeedDNS = "other.example"
			c.Peering.DNSServer = "10.96.0.10:53"
			c.Peering.GossipKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
			c.Server.DBPath = "/env/db"
			c.API.AuthToken = "env-token"
			c.API.TLSCertFile, c.API.TLSKeyFile = "/c.pem", "/k.pem"
		}},
		{"numeric overrides", map[string]string{
			"YZMA_PEERING_BIND_PORT":      "8100",
			"YZMA_PEERING_ADVERTISE_PORT": " 8200 ",
			"YZMA_MAX_BODY_BYTES":         "2048",
		}, func(c *Config) {
			c.Peering.BindPort, c.Peering.AdvertisePort = 8100, 8200
			c.API.MaxBodyBytes = 2048
		}},
		{"limit overrides", map[string]string{
			"YZMA_MAX_QUEUED_WRITES": "10",
			"YZMA_MAX_QUEUED_BYTES":  " 8192",
			"YZMA_MAX_LOG_BYTES":     "5000000000",
		}, func(c *Config) {
			c.Server.MaxQueuedWrites, c.Server.MaxQueuedBytes = 10, 8192
			c.Peering.MaxLogBytes = 5_000_000_000
		}},
		{"duration overrides", map[string]string{
			"YZMA_READ_HEADER_TIMEOUT": "250ms",
			"YZMA_READ_TIMEOUT":        " 2m ",
			"YZMA_IDLE_TIMEOUT":        "1h2m3s",
			"YZMA_DEAD_MEMBER_GRACE":   "0",
			"YZMA_JOIN_TIMEOUT":        "5s",
		}, func(c *Config) {
			c.Peering.JoinTimeout = Duration(5 * time.Second)
			c.API.ReadHeaderTimeout = Duration(250 * time.Millisecond)
			c.API.ReadTimeout = Duration(2 * time.Minute)
			c.API.IdleTimeout = Duration(time.Hour + 2*time.Minute + 3*time.Second)
			c.Peering.DeadMemberGrace = 0
		}},
		{"bind port moves the advertise default", map[string]string{"YZMA_PEERING_BIND_PORT": "8100"},
			func(c *Config) { c.Peering.BindPort, c.Peering.AdvertisePort = 8100, 8100 }},
		{"join list", map[string]string{"YZMA_PEERING_JOIN": " c:3, ,d:4,"},
			func(c *Config) { c.Peering.Join = []string{"c:3", "d:4"} }},
		{"empty join clears", map[string]string{"YZMA_PEERING_JOIN": ""},
			func(c *Config) { c.Peering.Join = nil }},
		{"token file replaces token", map[string]string{"YZMA_AUTH_TOKEN": "", "YZMA_AUTH_TOKEN_FILE": "/tok"},
			func(c *Config) { c.API.AuthToken, c.API.AuthTokenFile = "", "/tok" }},
		{"credential files", map[string]string{"YZMA_GOSSIP_KEY": "", "YZMA_GOSSIP_KEY_FILE": "/keys",
			"YZMA_PEER_TOKEN": "", "YZMA_PEER_TOKEN_FILE": "/peers"},
			func(c *Config) {
				c.Peering.GossipKey, c.Peering.GossipKeyFile = "", "/keys"
				c.Peering.PeerToken, c.Peering.PeerTokenFile = "", "/peers"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := Config{
				API: API{Bind: "127.0.0.1:9000", MaxBodyBytes: 1024, AuthToken: "file-token",
					ReadHeaderTimeout: Duration(5 * time.Second), ReadTimeout: Duration(90 * time.Second)},
				Peering: Peering{Name: "n1", BindAddr: "127.0.0.1", BindPort: 8000, AdvertiseAddress: "10.1.2.3",
					AdvertisePort: 8000, Join: []string{"a:1", "b:2"}, SeedDNS: "seeds.example",
					GossipKey: "MDEyMzQ1Njc4OWFiY2RlZg==", PeerToken: "file-peer", JoinTimeout: Duration(30 * time.Second), DeadMemberGrace: Duration(30 * time.Minute),
					MaxLogBytes: 1_000_000},
				Server: Server{DBPath: "/data/file.db", MaxQueuedWrites: 100, MaxQueuedBytes: 4096},
			}
			tt.want(&want)
			got, err := LoadWith(file, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadPartialFileKeepsDefaults(t *testing.T) {
	file := writeFile(t, "yzma.json", `{"Server": {"DBPath": "x.db"}}`)
	cfg, err := LoadWith(file, env(map[string]string{"YZMA_PEERING_NAME": "n"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.DBPath != "x.db" || cfg.API.Bind != DefaultBind || cfg.API.MaxBodyBytes != DefaultMaxBodyBytes ||
		cfg.Peering.BindPort != DefaultBindPort || cfg.API.ReadTimeout.Std() != DefaultReadTimeout ||
		cfg.Server.MaxQueuedWrites != DefaultMaxQueuedWrites || cfg.Peering.MaxLogBytes != DefaultMaxLogBytes {
		t.Fatalf("partial file lost defaults: %+v", cfg)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string // content; "" means no file
		env     map[string]string
		wantErr []string
	}{
		{"unknown top-level field", `{"Sever": {}}`, nil, []string{`unknown field "Sever"`}},
		{"unknown nested field", `{"API": {"Bnid": "x"}}`, nil, []string{`unknown field "Bnid"`}},
		{"malformed JSON", `{"API": `, nil, []string{"invalid JSON"}},
		{"wrong type", `{"Peering": {"BindPort": "7946"}}`, nil, []string{"invalid JSON", "BindPort"}},
		{"trailing data", `{} {}`, nil, []string{"after the top-level object"}},
		{"bad port env", "", map[string]string{"YZMA_PEERING_BIND_PORT": "x"}, []string{"YZMA_PEERING_BIND_PORT", `"x"`}},
		{"bad body env", "", map[string]string{"YZMA_MAX_BODY_BYTES": "16MiB"}, []string{"YZMA_MAX_BODY_BYTES"}},
		{"bad bind", "", map[string]string{"YZMA_API_BIND": "8080"}, []string{"API.Bind", "not host:port"}},
		{"bind port not a number", "", map[string]string{"YZMA_API_BIND": "h:http"}, []string{"API.Bind", "not a number"}},
		{"zero body limit", `{"API": {"MaxBodyBytes": 0}}`, nil, []string{"API.MaxBodyBytes"}},
		{"token and token file", "", map[string]string{"YZMA_AUTH_TOKEN": "a", "YZMA_AUTH_TOKEN_FILE": "b", "YZMA_PEER_TOKEN": "p"},
			[]string{"AuthToken and API.AuthTokenFile"}},
		{"cert without key", "", map[string]string{"YZMA_TLS_CERT_FILE": "c"}, []string{"TLSCertFile and API.TLSKeyFile"}},
		{"client token without a peer credential", "", map[string]string{"YZMA_AUTH_TOKEN": "a"},
			[]string{"without a peer credential"}},
		{"CA without a certificate", "", map[string]string{"YZMA_TLS_CA_FILE": "ca"}, []string{"API.TLSCAFile: needs"}},
		{"peer token and file", "", map[string]string{"YZMA_PEER_TOKEN": "a", "YZMA_PEER_TOKEN_FILE": "b"},
			[]string{"PeerToken and Peering.PeerTokenFile"}},
		{"gossip key and file", "", map[string]string{"YZMA_GOSSIP_KEY_FILE": "k", "YZMA_GOSSIP_KEY": "MDEyMzQ1Njc4OWFiY2RlZg=="},
			[]string{"GossipKey and Peering.GossipKeyFile"}},
		{"bind addr not IP", "", map[string]string{"YZMA_PEERING_BIND_ADDR": "localhost"}, []string{"Peering.BindAddr"}},
		{"port out of range", "", map[string]string{"YZMA_PEERING_BIND_PORT": "70000"}, []string{"Peering.BindPort", "out of range"}},
		{"advertise port negative", "", map[string]string{"YZMA_PEERING_ADVERTISE_PORT": "-1"}, []string{"Peering.AdvertisePort"}},
		{"bad join entry", "", map[string]string{"YZMA_PEERING_JOIN": "a:1,b"}, []string{"Peering.Join[1]"}},
		{"gossip key not base64", "", map[string]string{"YZMA_GOSSIP_KEY": "!!"}, []string{"Peering.GossipKey", "base64"}},
		{"gossip key wrong size", "", map[string]string{"YZMA_GOSSIP_KEY": "AAAA"}, []string{"Peering.GossipKey", "3 bytes"}},
		{"empty db path", "", map[string]string{"YZMA_DB_PATH": ""}, []string{"Server.DBPath"}},
		{"bind host not IP", "", map[string]string{"YZMA_BIND_HOST": "localhost"}, []string{"Server.BindHost", `"localhost"`}},
		{"DNS server without port", "", map[string]string{"YZMA_DNS_SERVER": "10.96.0.10"}, []string{"Peering.DNSServer", "not host:port"}},
		{"DNS server without host", "", map[string]string{"YZMA_DNS_SERVER": ":53"}, []string{"Peering.DNSServer", "no host"}},
		{"DNS server bad port", "", map[string]string{"YZMA_DNS_SERVER": "10.96.0.10:dns"}, []string{"Peering.DNSServer", "not a number"}},
		{"several at once", "", map[string]string{"YZMA_DB_PATH": "", "YZMA_API_BIND": "x"},
			[]string{"Server.DBPath", "API.Bind"}},
		{"duration as a number", `{"API": {"ReadTimeout": 10}}`, nil,
			[]string{"invalid JSON", "API.ReadTimeout", `want a string such as "10s"`}},
		{"duration without unit", `{"API": {"IdleTimeout": "10"}}`, nil,
			[]string{"invalid JSON", "API.IdleTimeout", "missing unit"}},
		{"duration nonsense", `{"Peering": {"DeadMemberGrace": "soon"}}`, nil,
			[]string{"Peering.DeadMemberGrace", "invalid duration"}},
		{"negative timeout in file", `{"API": {"ReadHeaderTimeout": "-1s"}}`, nil,
			[]string{"API.ReadHeaderTimeout", "must not be negative", "-1s"}},
		{"bad duration env", "", map[string]string{"YZMA_READ_TIMEOUT": "60"},
			[]string{"YZMA_READ_TIMEOUT", "missing unit"}},
		{"negative duration env", "", map[string]string{"YZMA_IDLE_TIMEOUT": "-2m"},
			[]string{"API.IdleTimeout", "must not be negative"}},
		{"negative grace env", "", map[string]string{"YZMA_DEAD_MEMBER_GRACE": "-1h"},
			[]string{"Peering.DeadMemberGrace", "must not be negative"}},
		{"zero join timeout", `{"Peering": {"JoinTimeout": "0s"}}`, nil,
			[]string{"Peering.JoinTimeout", "must be positive"}},
		{"bad queued writes env", "", map[string]string{"YZMA_MAX_QUEUED_WRITES": "many"},
			[]string{"YZMA_MAX_QUEUED_WRITES", `"many"`}},
		{"zero queued writes", `{"Server": {"MaxQueuedWrites": 0}}`, nil, []string{"Server.MaxQueuedWrites", "positive"}},
		{"bad queued bytes env", "", map[string]string{"YZMA_MAX_QUEUED_BYTES": "1GiB"}, []string{"YZMA_MAX_QUEUED_BYTES"}},
		{"negative queued bytes", "", map[string]string{"YZMA_MAX_QUEUED_BYTES": "-1"},
			[]string{"Server.MaxQueuedBytes", "positive"}},
		{"queue smaller than a body", "", map[string]string{"YZMA_MAX_QUEUED_BYTES": "1024", "YZMA_MAX_BODY_BYTES": "2048"},
			[]string{"Server.MaxQueuedBytes", "API.MaxBodyBytes"}},
		{"bad log bytes env", "", map[string]string{"YZMA_MAX_LOG_BYTES": "1e9"}, []string{"YZMA_MAX_LOG_BYTES"}},
		{"zero log bytes", `{"Peering": {"MaxLogBytes": 0}}`, nil, []string{"Peering.MaxLogBytes", "positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, "c.json", tt.file)
			}
			_, err := LoadWith(path, env(tt.env))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestBindHost(t *testing.T) {
	type addrs struct{ api, bindAddr, advertise string }
	tests := []struct {
		name string
		file string // JSON; "" means none
		env  map[string]string
		want addrs
	}{
		{"unset keeps unspecified hosts", "", map[string]string{"YZMA_API_BIND": ":8080"},
			addrs{":8080", "0.0.0.0", ""}},
		{"pod spec addresses", "", map[string]string{"YZMA_API_BIND": ":8080", "YZMA_BIND_HOST": "127.0.0.5"},
			addrs{"127.0.0.5:8080", "127.0.0.5", "127.0.0.5"}},
		{"IPv4 and IPv6 any", `{"API": {"Bind": "0.0.0.0:9000"}, "Peering": {"BindAddr": "::"}}`,
			map[string]string{"YZMA_BIND_HOST": "127.0.0.6"}, addrs{"127.0.0.6:9000", "127.0.0.6", "127.0.0.6"}},
		{"IPv6 any API", "", map[string]string{"YZMA_API_BIND": "[::]:8080", "YZMA_BIND_HOST": "127.0.0.7"},
			addrs{"127.0.0.7:8080", "127.0.0.7", "127.0.0.7"}},
		{"empty gossip bind address", `{"Peering": {"BindAddr": ""}}`, map[string]string{"YZMA_BIND_HOST": "127.0.0.8"},
			addrs{"127.0.0.1:8080", "127.0.0.8", "127.0.0.8"}},
		{"IPv6 bind host", "", map[string]string{"YZMA_API_BIND": ":8080", "YZMA_BIND_HOST": "::1"},
			addrs{"[::1]:8080", "::1", "::1"}},
		{"specific hosts are kept", "", map[string]string{"YZMA_API_BIND": "127.0.0.9:8080",
			"YZMA_PEERING_BIND_ADDR": "127.0.0.9", "YZMA_BIND_HOST": "127.0.0.5"},
			addrs{"127.0.0.9:8080", "127.0.0.9", ""}},
		{"explicit advertise address is kept", "", map[string]string{"YZMA_PEERING_ADVERTISE_ADDRESS": "10.0.0.1",
			"YZMA_BIND_HOST": "127.0.0.5"}, addrs{"127.0.0.1:8080", "127.0.0.5", "10.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, "c.json", tt.file)
			}
			cfg, err := LoadWith(path, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := (addrs{cfg.API.Bind, cfg.Peering.BindAddr, cfg.Peering.AdvertiseAddress}); got != tt.want {
				t.Fatalf("API.Bind, Peering.BindAddr, Peering.AdvertiseAddress = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLoadFileSizeLimit(t *testing.T) {
	// Valid JSON padded with spaces to exactly n bytes.
	padded := func(n int) string { return "{}" + strings.Repeat(" ", n-2) }
	tests := []struct {
		name    string
		size    int
		wantErr bool
	}{
		{"small", 2, false},
		{"at the limit", MaxFileBytes, false},
		{"one byte over", MaxFileBytes + 1, true},
		{"far over", 4 * MaxFileBytes, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "c.json", padded(tt.size))
			_, err := LoadWith(path, env(map[string]string{"YZMA_PEERING_NAME": "n"}))
			if !tt.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrFileTooLarge) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want ErrFileTooLarge naming %s", err, path)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    Duration
		wantErr string
	}{
		{`"10s"`, Duration(10 * time.Second), ""},
		{`"1m30s"`, Duration(90 * time.Second), ""},
		{`"1.5h"`, Duration(90 * time.Minute), ""},
		{`"250ms"`, Duration(250 * time.Millisecond), ""},
		{`"0"`, 0, ""},
		{`"-3s"`, Duration(-3 * time.Second), ""}, // decodes; Validate refuses it
		{`null`, Duration(7), ""},                 // leaves the value alone
		{`10`, 0, `want a string`},
		{`true`, 0, `want a string`},
		{`"10"`, 0, "missing unit"},
		{`""`, 0, "invalid duration"},
		{`"1d"`, 0, "unknown unit"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d := Duration(7)
			err := json.Unmarshal([]byte(tt.in), &d)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || d != tt.want {
				t.Fatalf("got %v, %v; want %v", d, err, tt.want)
			}
			if tt.in == "null" {
				return
			}
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			var back Duration
			if err := json.Unmarshal(b, &back); err != nil || back != d {
				t.Fatalf("%s round-trips to %v, %v", b, back, err)
			}
		})
	}
	if b, _ := json.Marshal(API{ReadTimeout: Duration(90 * time.Second)}); !strings.Contains(string(b), `"ReadTimeout":"1m30s"`) {
		t.Fatalf("marshalled as %s", b)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := LoadWith(filepath.Join(t.TempDir(), "nope.json"), env(nil))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("want a not-exist error, got %v", err)
	}
}

func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokens := write("tokens", "# clients\nrw admin-token\nro reader-token\n")
	blank := write("blank", "\n")
	peers := write("peers", "new-peer\nold-peer\n")
	keys := write("keys", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\nMDEyMzQ1Njc4OWFiY2RlZg==\n")
	tests := []struct {
		name    string
		cfg     func(*Config)
		check   func(t *testing.T, c Credentials)
		wantErr string
	}{
		{"none", func(*Config) {}, func(t *testing.T, c Credentials) {
			if c.Tokens != nil || c.Peer != nil || c.GossipKeys != nil || c.TLS != nil {
				t.Fatalf("credentials without configuration: %+v", c)
			}
		}, ""},
		{"inline token is read-write", func(c *Config) { c.API.AuthToken = "abc" }, func(t *testing.T, c Credentials) {
			if got := c.Tokens.Get().Role("abc"); got != creds.RoleReadWrite {
				t.Fatalf("role %v", got)
			}
		}, ""},
		{"tokens file with roles", func(c *Config) { c.API.AuthTokenFile = tokens }, func(t *testing.T, c Credentials) {
			tk := c.Tokens.Get()
			if tk.Role("admin-token") != creds.RoleReadWrite || tk.Role("reader-token") != creds.RoleReadOnly || tk.Role("other") != creds.RoleNone {
				t.Fatal("wrong roles")
			}
		}, ""},
		{"peer file: first sent, all accepted", func(c *Config) { c.Peering.PeerTokenFile = peers }, func(t *testing.T, c Credentials) {
			p := c.Peer.Get()
			if p.First() != "new-peer" || !p.Valid("old-peer") || p.Valid("admin-token") {
				t.Fatalf("peer secrets %+v", p)
			}
		}, ""},
		{"gossip keys: primary first", func(c *Config) { c.Peering.GossipKeyFile = keys }, func(t *testing.T, c Credentials) {
			k := c.GossipKeys.Get()
			if len(k) != 2 || len(k[0]) != 32 || len(k[1]) != 16 {
				t.Fatalf("keys %d", len(k))
			}
		}, ""},
		{"blank tokens file", func(c *Config) { c.API.AuthTokenFile = blank }, nil, "no token"},
		{"missing tokens file", func(c *Config) { c.API.AuthTokenFile = filepath.Join(dir, "none") }, nil, "AuthTokenFile"},
		{"bad gossip key file", func(c *Config) { c.Peering.GossipKeyFile = tokens }, nil, "not base64"},
		{"missing TLS files", func(c *Config) { c.API.TLSCertFile, c.API.TLSKeyFile = blank, blank }, nil, "TLS key pair"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			tt.cfg(&cfg)
			got, err := cfg.LoadCredentials()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, got)
		})
	}
}

func TestInsecure(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		want int
	}{
		{"loopback default", func(*Config) {}, 0},
		{"all interfaces, nothing set", func(c *Config) { c.API.Bind = ":8080" }, 4},
		{"fully protected", func(c *Config) {
			c.API.Bind = ":8080"
			c.API.AuthTokenFile, c.API.TLSCertFile, c.API.TLSCAFile = "t", "c", "ca"
			c.Peering.GossipKeyFile = "k"
		}, 0},
		{"token and peer secret, no TLS", func(c *Config) {
			c.API.Bind, c.API.AuthToken, c.Peering.PeerToken, c.Peering.GossipKey = "10.0.0.1:8080", "t", "p", "k"
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			cfg.Peering.BindAddr = "127.0.0.1"
			if tt.want > 0 {
				cfg.Peering.BindAddr = "0.0.0.0"
			}
			tt.cfg(&cfg)
			if got := cfg.Insecure(); len(got) != tt.want {
				t.Fatalf("Insecure() = %q, want %d holes", got, tt.want)
			}
		})
	}
}
