package config

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/yzma/yzma/node/api"
)

// Defaults for settings left unset.
const (
	DefaultBind         = "127.0.0.1:8080"
	DefaultMaxBodyBytes = api.DefaultMaxBodyBytes
	DefaultBindAddr     = "0.0.0.0"
	DefaultBindPort     = 7946
	DefaultDBPath       = "yzma.db"

	// The HTTP server's timeouts; the same as httpapi's defaults for a
	// zero ServeOptions.
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute

	DefaultMaxQueuedWrites = 4096
	DefaultMaxQueuedBytes  = 256 << 20
	DefaultDeadMemberGrace = time.Hour
	DefaultJoinTimeout     = 30 * time.Second
	DefaultMaxLogBytes     = 1 << 30
)

// MaxFileBytes is the largest configuration file read.
const MaxFileBytes = 1 << 20

// ErrFileTooLarge is returned for a configuration file over MaxFileBytes.
var ErrFileTooLarge = fmt.Errorf("larger than %d bytes", MaxFileBytes)

// Config is a node's whole configuration.
type Config struct {
	API     API
	Peering Peering
	Server  Server
}

// API configures the HTTP API.
type API struct {
	Bind         string // host:port to listen on
	MaxBodyBytes int64  // largest accepted request body
	AuthToken    string // a read-write bearer token the API requires; empty: see AuthTokenFile
	// AuthTokenFile holds the client tokens, one per line: "rw <token>",
	// "ro <token>" (GET only) or "<token>" (read-write); re-read when it
	// changes. Exclusive with AuthToken; neither: the API is open.
	AuthTokenFile string
	TLSCertFile   string // with TLSKeyFile: serve HTTPS, and present it to peers
	TLSKeyFile    string
	// TLSCAFile is the cluster's CA bundle: peers' certificates are
	// verified against it (by AdvertiseName), and a client certificate it
	// verifies is a peer's credential. The three files are re-read when
	// they change.
	TLSCAFile string
	// AdvertiseName is the DNS name in this node's certificate that peers
	// verify (in Kubernetes the pod's name under the headless Service);
	// empty: the advertised address.
	AdvertiseName string
	// ReadHeaderTimeout bounds reading a request's headers, ReadTimeout the
	// whole request including its body, IdleTimeout how long a keep-alive
	// connection waits for its next request; 0 turns one off (headers then
	// stay bounded by ReadTimeout). There is deliberately no write timeout:
	// a snapshot stream to a joining peer and POST /cluster/leave may take
	// minutes.
	ReadHeaderTimeout Duration
	ReadTimeout       Duration
	IdleTimeout       Duration
}

// Peering configures cluster membership.
type Peering struct {
	Name             string   // unique member name; defaults to the hostname
	BindAddr         string   // gossip listen address
	BindPort         int      // gossip listen port
	AdvertiseAddress string   // address peers should use; empty: derived from BindAddr
	AdvertisePort    int      // port peers should use; defaults to BindPort
	Join             []string // host:port of members to join at start (and whenever one is not a member)
	SeedDNS          string   // DNS name whose A/AAAA records are members to join (port BindPort)
	DNSServer        string   // host:port of the DNS server for SeedDNS and Join names; empty: the system's
	GossipKey        string   // base64 key (16, 24 or 32 bytes) encrypting gossip; empty: see GossipKeyFile
	// GossipKeyFile holds gossip keys, one base64 key per line: the first
	// encrypts, all decrypt (a rotation adds the new key second, makes it
	// first, then removes the old one). Re-read when it changes; exclusive
	// with GossipKey. Neither: gossip is not encrypted.
	GossipKeyFile string
	// PeerToken is the secret peers present on /internal/* when there is
	// no CA to verify their certificates; PeerTokenFile holds several, one
	// per line, the first sent and all accepted, re-read when it changes.
	PeerToken     string
	PeerTokenFile string
	// JoinTimeout is how long a starting node looks for its seeds before it
	// starts alone (and ready: until then it takes no writes).
	JoinTimeout Duration
	// DeadMemberGrace is how long a member that died without leaving holds
	// back log pruning (it may come back and catch up from the log).
	DeadMemberGrace Duration
	// MaxLogBytes caps the operation log: past it the log is pruned even
	// for dead members, who then resync by snapshot.
	MaxLogBytes int64
}

// Server configures storage and the host the node's listeners bind to.
type Server struct {
	DBPath string // the bbolt data file
	// BindHost, when set, replaces an unspecified host ("", 0.0.0.0, ::) in
	// API.Bind and Peering.BindAddr, and is the default AdvertiseAddress of
	// a BindAddr it replaced: for many nodes sharing one network namespace,
	// each on its own IP, with one configuration.
	BindHost string
	// MaxQueuedWrites and MaxQueuedBytes bound the writes waiting to be
	// committed, in number and in bytes of values.
	MaxQueuedWrites int
	MaxQueuedBytes  int64
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		API: API{Bind: DefaultBind, MaxBodyBytes: DefaultMaxBodyBytes,
			ReadHeaderTimeout: Duration(DefaultReadHeaderTimeout), ReadTimeout: Duration(DefaultReadTimeout),
			IdleTimeout: Duration(DefaultIdleTimeout)},
		Peering: Peering{BindAddr: DefaultBindAddr, BindPort: DefaultBindPort,
			JoinTimeout: Duration(DefaultJoinTimeout), DeadMemberGrace: Duration(DefaultDeadMemberGrace),
			MaxLogBytes: DefaultMaxLogBytes},
		Server: Server{DBPath: DefaultDBPath, MaxQueuedWrites: DefaultMaxQueuedWrites,
			MaxQueuedBytes: DefaultMaxQueuedBytes},
	}
}

// Load reads the file at path (empty: none), applies the process
// environment, fills in defaults and validates the result.
func Load(path string) (Config, error) {
	return LoadWith(path, os.LookupEnv)
}

// LoadWith is Load with the environment read through lookup.
func LoadWith(path string, lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	if path != "" {
		if err := cfg.readFile(path); err != nil {
			return Config{}, err
		}
	}
	if err := cfg.applyEnv(lookup); err != nil {
		return Config{}, err
	}
	if err := cfg.fillDefaults(); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func (c *Config) readFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	// One byte past the limit tells a file at the limit from a larger one
	// without reading more (the path may name a device or a pipe).
	raw, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if len(raw) > MaxFileBytes {
		return fmt.Errorf("config %s: %w", path, ErrFileTooLarge)
	}
	if err := c.decode(raw); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// decode merges a JSON document over c, rejecting unknown fields.
func (c *Config) decode(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid JSON: unexpected data after the top-level object")
	}
	return nil
}

// fillDefaults sets what depends on other settings or on the host.
func (c *Config) fillDefaults() error {
	if h := c.Server.BindHost; h != "" {
		if host, port, err := net.SplitHostPort(c.API.Bind); err == nil && unspecified(host) {
			c.API.Bind = net.JoinHostPort(h, port)
		}
		if unspecified(c.Peering.BindAddr) {
			c.Peering.BindAddr = h
			if c.Peering.AdvertiseAddress == "" {
				c.Peering.AdvertiseAddress = h
			}
		}
	}
	if c.Peering.Name == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("default Peering.Name: %w", err)
		}
		c.Peering.Name = host
	}
	if c.Peering.AdvertisePort == 0 {
		c.Peering.AdvertisePort = c.Peering.BindPort
	}
	return nil
}

// Validate reports every setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := checkHostPort(c.API.Bind); err != nil {
		add("API.Bind: %w", err)
	}
	if c.API.MaxBodyBytes <= 0 {
		add("API.MaxBodyBytes: must be positive, got %d", c.API.MaxBodyBytes)
	}
	if c.API.AuthToken != "" && c.API.AuthTokenFile != "" {
		add("API.AuthToken and API.AuthTokenFile: set at most one")
	}
	if (c.API.TLSCertFile == "") != (c.API.TLSKeyFile == "") {
		add("API.TLSCertFile and API.TLSKeyFile: set both or neither")
	}
	if c.API.TLSCAFile != "" && c.API.TLSCertFile == "" {
		add("API.TLSCAFile: needs API.TLSCertFile and API.TLSKeyFile (the certificate peers verify)")
	}
	if c.Peering.PeerToken != "" && c.Peering.PeerTokenFile != "" {
		add("Peering.PeerToken and Peering.PeerTokenFile: set at most one")
	}
	if c.Peering.GossipKey != "" && c.Peering.GossipKeyFile != "" {
		add("Peering.GossipKey and Peering.GossipKeyFile: set at most one")
	}
	if c.ClientAuth() && !c.PeerAuth() {
		add("API.AuthToken/AuthTokenFile without a peer credential: peers could not replicate; " +
			"set Peering.PeerToken/PeerTokenFile or API.TLSCAFile")
	}
	for _, d := range []struct {
		name string
		d    Duration
	}{
		{"API.ReadHeaderTimeout", c.API.ReadHeaderTimeout},
		{"API.ReadTimeout", c.API.ReadTimeout},
		{"API.IdleTimeout", c.API.IdleTimeout},
		{"Peering.DeadMemberGrace", c.Peering.DeadMemberGrace},
	} {
		if d.d < 0 {
			add("%s: must not be negative, got %v", d.name, d.d)
		}
	}
	if c.Peering.JoinTimeout <= 0 {
		add("Peering.JoinTimeout: must be positive, got %v", c.Peering.JoinTimeout)
	}
	if c.Peering.Name == "" {
		add("Peering.Name: must not be empty")
	}
	if c.Peering.BindAddr == "" || net.ParseIP(c.Peering.BindAddr) == nil {
		add("Peering.BindAddr: %q is not an IP address", c.Peering.BindAddr)
	}
	if err := checkPort(c.Peering.BindPort); err != nil {
		add("Peering.BindPort: %w", err)
	}
	if err := checkPort(c.Peering.AdvertisePort); err != nil {
		add("Peering.AdvertisePort: %w", err)
	}
	for i, p := range c.Peering.Join {
		if err := checkHostPort(p); err != nil {
			add("Peering.Join[%d]: %w", i, err)
		}
	}
	if c.Peering.GossipKey != "" {
		if err := checkGossipKey(c.Peering.GossipKey); err != nil {
			add("Peering.GossipKey: %w", err)
		}
	}
	if c.Peering.DNSServer != "" {
		if err := checkHostPort(c.Peering.DNSServer); err != nil {
			add("Peering.DNSServer: %w", err)
		} else if host, _, _ := net.SplitHostPort(c.Peering.DNSServer); host == "" {
			add("Peering.DNSServer: %q has no host", c.Peering.DNSServer)
		}
	}
	if c.Peering.MaxLogBytes <= 0 {
		add("Peering.MaxLogBytes: must be positive, got %d", c.Peering.MaxLogBytes)
	}
	if c.Server.DBPath == "" {
		add("Server.DBPath: must not be empty")
	}
	if c.Server.MaxQueuedWrites <= 0 {
		add("Server.MaxQueuedWrites: must be positive, got %d", c.Server.MaxQueuedWrites)
	}
	switch {
	case c.Server.MaxQueuedBytes <= 0:
		add("Server.MaxQueuedBytes: must be positive, got %d", c.Server.MaxQueuedBytes)
	case c.API.MaxBodyBytes > 0 && c.Server.MaxQueuedBytes < c.API.MaxBodyBytes:
		add("Server.MaxQueuedBytes: %d is less than API.MaxBodyBytes %d, so the largest write could never be queued",
			c.Server.MaxQueuedBytes, c.API.MaxBodyBytes)
	}
	if c.Server.BindHost != "" && net.ParseIP(c.Server.BindHost) == nil {
		add("Server.BindHost: %q is not an IP address", c.Server.BindHost)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid config: %w", errors.Join(errs...))
	}
	return nil
}

// ClientAuth reports whether clients need a token.
func (c Config) ClientAuth() bool { return c.API.AuthToken != "" || c.API.AuthTokenFile != "" }

// PeerAuth reports whether peers need a credential on /internal/*.
func (c Config) PeerAuth() bool {
	return c.Peering.PeerToken != "" || c.Peering.PeerTokenFile != "" || c.API.TLSCAFile != ""
}

// Insecure lists the holes of a node reachable from other hosts: the API's
// when API.Bind is not a loopback address, gossip's when Peering.BindAddr
// is not; nil for a node on loopback or fully protected.
func (c Config) Insecure() []string {
	var open []string
	if host, _, err := net.SplitHostPort(c.API.Bind); err != nil || !loopback(host) {
		if !c.ClientAuth() && c.API.TLSCAFile == "" {
			open = append(open, "the API takes requests from anyone (no token, no client CA)")
		}
		if !c.PeerAuth() {
			open = append(open, "/internal/* takes operations and serves the whole database to anyone (no peer credential)")
		}
		if c.API.TLSCertFile == "" {
			open = append(open, "tokens and data cross the network in clear text (no TLS)")
		}
	}
	if !loopback(c.Peering.BindAddr) && c.Peering.GossipKey == "" && c.Peering.GossipKeyFile == "" {
		open = append(open, "gossip is neither encrypted nor authenticated (no gossip key): anyone can join and advertise an address")
	}
	return open
}

// loopback reports whether host is a loopback address or localhost.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// unspecified reports whether host binds every address: empty, 0.0.0.0 or ::.
func unspecified(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}

func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", s, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("%q: port %q is not a number", s, port)
	}
	if err := checkPort(n); err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	return nil
}

func checkPort(n int) error {
	if n < 0 || n > 65535 {
		return fmt.Errorf("port %d out of range 0-65535", n)
	}
	return nil
}

func checkGossipKey(s string) error {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("not base64: %w", err)
	}
	switch len(key) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("decodes to %d bytes; want 16, 24 or 32", len(key))
}
