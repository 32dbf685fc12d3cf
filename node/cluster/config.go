package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/yzma/yzma/node/creds"
)

// Config configures a member.
type Config struct {
	// Name is the member's unique, stable name (the pod name in Kubernetes).
	Name          string
	BindAddr      string
	BindPort      int
	AdvertiseAddr string
	AdvertisePort int
	// APIAddr is the host:port peers use to reach this node's HTTP API; it
	// may be set later with SetAPIAddr, before Join.
	APIAddr string
	// Seeds are gossip addresses (host:port) to join at start and, every
	// ReseedInterval, whenever one is not a member.
	Seeds []string
	// SeedDNS is a name whose A/AAAA records are gossip seeds (port BindPort),
	// such as a headless Service; looked up at start and every ReseedInterval.
	SeedDNS string
	// Resolver looks up SeedDNS and the host names among Seeds; nil is the
	// system resolver. DNSResolver makes one that asks a given server.
	Resolver *net.Resolver
	// APIName is the name in the API's TLS certificate that peers verify
	// (empty: the API address's host); APITLS says the API speaks HTTPS.
	// Both are gossiped with the API address.
	APIName string
	APITLS  bool
	// GossipKeys encrypt gossip: the first (the primary) encrypts, every
	// one decrypts, so a rotation never splits the cluster; they are
	// followed as their source changes. nil: no encryption. Members with
	// no key in common cannot talk to each other.
	GossipKeys *creds.File[[][]byte]
	// Memberlist returns the base memberlist configuration (profile); nil is
	// memberlist.DefaultLANConfig.
	Memberlist func() *memberlist.Config
	// WrapGossip, when set, wraps the gossip transport: New builds
	// memberlist's NetTransport on BindAddr:BindPort itself and gossips
	// through WrapGossip's result (tests inject network faults this way,
	// see package faultnet). nil: memberlist's own transport.
	WrapGossip func(memberlist.NodeAwareTransport) memberlist.NodeAwareTransport

	JoinTimeout         time.Duration // default 30s: how long to look for seeds
	LeaveTimeout        time.Duration // default 60s: how long a hand-off may take
	AntiEntropyInterval time.Duration // default 2s
	PruneInterval       time.Duration // default 30s
	// ReseedInterval is how often, with Seeds or SeedDNS set, the seeds are
	// resolved again and those that are not members joined; default 30s.
	ReseedInterval time.Duration
	// DeadGrace is how long a member that died without leaving holds back
	// log pruning (default 1h): a member back within it catches up from the
	// log; one back later takes a snapshot.
	DeadGrace time.Duration
	// MaxLogBytes caps the log kept for dead members (default 1 GiB): past
	// it, the log is pruned as if they had left.
	MaxLogBytes int64

	Transport  Transport // nil: HTTPTransport
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() error {
	if c.Name == "" {
		return fmt.Errorf("cluster: member name is required")
	}
	if c.GossipKeys != nil {
		keys := c.GossipKeys.Get()
		if len(keys) == 0 {
			return errors.New("cluster: no gossip key")
		}
		for _, k := range keys {
			switch len(k) {
			case 16, 24, 32:
			default:
				return fmt.Errorf("cluster: gossip key is %d bytes; want 16, 24 or 32", len(k))
			}
		}
	}
	if c.Memberlist == nil {
		c.Memberlist = memberlist.DefaultLANConfig
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.JoinTimeout, 30*time.Second)
	def(&c.LeaveTimeout, 60*time.Second)
	def(&c.AntiEntropyInterval, 2*time.Second)
	def(&c.PruneInterval, 30*time.Second)
	def(&c.ReseedInterval, 30*time.Second)
	def(&c.DeadGrace, time.Hour)
	if c.MaxLogBytes <= 0 {
		c.MaxLogBytes = 1 << 30
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	if c.Transport == nil {
		c.Transport = &HTTPTransport{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
