package config

import (
	"fmt"
	"strconv"
	"strings"
)

// applyEnv overrides c with the YZMA_* variables that are set.
func (c *Config) applyEnv(lookup func(string) (string, bool)) error {
	strs := []struct {
		name string
		dst  *string
	}{
		{"YZMA_API_BIND", &c.API.Bind},
		{"YZMA_AUTH_TOKEN", &c.API.AuthToken},
		{"YZMA_AUTH_TOKEN_FILE", &c.API.AuthTokenFile},
		{"YZMA_TLS_CERT_FILE", &c.API.TLSCertFile},
		{"YZMA_TLS_KEY_FILE", &c.API.TLSKeyFile},
		{"YZMA_TLS_CA_FILE", &c.API.TLSCAFile},
		{"YZMA_API_ADVERTISE_NAME", &c.API.AdvertiseName},
		{"YZMA_PEERING_NAME", &c.Peering.Name},
		{"YZMA_PEERING_BIND_ADDR", &c.Peering.BindAddr},
		{"YZMA_PEERING_ADVERTISE_ADDRESS", &c.Peering.AdvertiseAddress},
		{"YZMA_PEERING_SEED_DNS", &c.Peering.SeedDNS},
		{"YZMA_DNS_SERVER", &c.Peering.DNSServer},
		{"YZMA_GOSSIP_KEY", &c.Peering.GossipKey},
		{"YZMA_GOSSIP_KEY_FILE", &c.Peering.GossipKeyFile},
		{"YZMA_PEER_TOKEN", &c.Peering.PeerToken},
		{"YZMA_PEER_TOKEN_FILE", &c.Peering.PeerTokenFile},
		{"YZMA_DB_PATH", &c.Server.DBPath},
		{"YZMA_BIND_HOST", &c.Server.BindHost},
	}
	for _, s := range strs {
		if v, ok := lookup(s.name); ok {
			*s.dst = v
		}
	}
	ints := []struct {
		name string
		dst  *int
	}{
		{"YZMA_PEERING_BIND_PORT", &c.Peering.BindPort},
		{"YZMA_PEERING_ADVERTISE_PORT", &c.Peering.AdvertisePort},
		{"YZMA_MAX_QUEUED_WRITES", &c.Server.MaxQueuedWrites},
	}
	for _, s := range ints {
		if v, ok := lookup(s.name); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%s: %q is not an integer", s.name, v)
			}
			*s.dst = n
		}
	}
	int64s := []struct {
		name string
		dst  *int64
	}{
		{"YZMA_MAX_BODY_BYTES", &c.API.MaxBodyBytes},
		{"YZMA_MAX_QUEUED_BYTES", &c.Server.MaxQueuedBytes},
		{"YZMA_MAX_LOG_BYTES", &c.Peering.MaxLogBytes},
	}
	for _, s := range int64s {
		if v, ok := lookup(s.name); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return fmt.Errorf("%s: %q is not an integer", s.name, v)
			}
			*s.dst = n
		}
	}
	durations := []struct {
		name string
		dst  *Duration
	}{
		{"YZMA_READ_HEADER_TIMEOUT", &c.API.ReadHeaderTimeout},
		{"YZMA_READ_TIMEOUT", &c.API.ReadTimeout},
		{"YZMA_IDLE_TIMEOUT", &c.API.IdleTimeout},
		{"YZMA_DEAD_MEMBER_GRACE", &c.Peering.DeadMemberGrace},
		{"YZMA_JOIN_TIMEOUT", &c.Peering.JoinTimeout},
	}
	for _, s := range durations {
		if v, ok := lookup(s.name); ok {
			d, err := parseDuration(s.name, strings.TrimSpace(v))
			if err != nil {
				return err
			}
			*s.dst = d
		}
	}
	if v, ok := lookup("YZMA_PEERING_JOIN"); ok {
		c.Peering.Join = SplitList(v)
	}
	return nil
}

// SplitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func SplitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
