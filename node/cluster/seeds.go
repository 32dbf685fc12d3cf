package cluster

import (
	"context"
	"net"
	"strconv"
)

// DNSResolver returns a resolver that sends every query to server
// (host:port) instead of the name servers in /etc/resolv.conf: for a node
// whose seed names are served by a DNS server of its own, such as a local
// process kubelet's. /etc/hosts is still read first.
func DNSResolver(server string) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		},
	}
}

// seeds returns the gossip addresses to try: cfg.Seeds and extra with their
// host names resolved, and the A/AAAA records of cfg.SeedDNS on port
// BindPort; without this node's own address and without duplicates.
func (c *Cluster) seeds(ctx context.Context, s *session, extra []string) []string {
	var all []string
	for _, seed := range append(append([]string{}, c.cfg.Seeds...), extra...) {
		all = append(all, c.resolveSeed(ctx, seed)...)
	}
	if c.cfg.SeedDNS != "" {
		addrs, err := c.cfg.Resolver.LookupHost(ctx, c.cfg.SeedDNS)
		if err != nil {
			c.log.Debug("seed DNS lookup failed", "name", c.cfg.SeedDNS, "error", err)
		}
		for _, a := range addrs {
			all = append(all, net.JoinHostPort(a, strconv.Itoa(c.cfg.BindPort)))
		}
	}
	seen := map[string]bool{"": true, s.ml.LocalNode().Address(): true}
	var out []string
	for _, a := range all {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// resolveSeed turns a seed host:port into IP:port addresses through the
// configured resolver. A seed whose host does not resolve yields none (a
// StatefulSet pod that does not exist yet); one that is not host:port is
// kept for memberlist to report.
func (c *Cluster) resolveSeed(ctx context.Context, seed string) []string {
	host, port, err := net.SplitHostPort(seed)
	if err != nil || net.ParseIP(host) != nil {
		return []string{seed}
	}
	addrs, err := c.cfg.Resolver.LookupHost(ctx, host)
	if err != nil {
		c.log.Debug("seed lookup failed", "seed", seed, "error", err)
		return nil
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = net.JoinHostPort(a, port)
	}
	return out
}

// reseedRound resolves the seeds again and joins those that are not alive
// or suspect members of session s. This heals split starts: pods started
// together each found only itself in DNS and started alone; once DNS lists
// them all, each joins the others and their data converges by the usual
// push and anti-entropy. It waits for Join (which makes the first contact)
// and stops once the node handed its data off.
func (c *Cluster) reseedRound(s *session) {
	if !c.ready.Load() || c.handedOff.Load() {
		return
	}
	members := map[string]bool{}
	for _, m := range s.ml.Members() {
		members[m.Address()] = true
	}
	var missing []string
	for _, a := range c.seeds(s.ctx, s, nil) {
		if !members[a] {
			missing = append(missing, a)
		}
	}
	if len(missing) == 0 || s.ctx.Err() != nil {
		return
	}
	n, err := s.ml.Join(missing)
	if n > 0 {
		c.log.Info("re-seeding joined seeds that were not members", "seeds", missing, "contacted", n)
		return
	}
	c.log.Debug("re-seeding reached no seed", "seeds", missing, "error", err)
}
