package main

import (
	"fmt"
	"log/slog"

	"github.com/hashicorp/memberlist"

	"github.com/yzma/yzma/node/cluster"
	"github.com/yzma/yzma/node/faultnet"
)

// enableFaults filters the node's gossip and replication traffic through
// the test fault rules in path (YZMA_TEST_FAULTS_FILE): for fault-injection
// tests only, never in production.
func enableFaults(ccfg *cluster.Config, path string, log *slog.Logger) error {
	ht, ok := ccfg.Transport.(*cluster.HTTPTransport)
	if !ok {
		return fmt.Errorf("%s: cannot filter a %T", faultnet.EnvFile, ccfg.Transport)
	}
	rules := faultnet.NewRules(path)
	log.Warn("TEST FAULT INJECTION IS ON: gossip and replication obey the rules file; never run a production node like this",
		"env", faultnet.EnvFile, "rules_file", path, "blocked_now", len(rules.List()))
	ccfg.WrapGossip = func(t memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
		return faultnet.WrapTransport(t, rules)
	}
	ht.DialWith = rules.DialContext
	return nil
}
