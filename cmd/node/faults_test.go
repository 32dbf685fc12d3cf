package main

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yzma/yzma/node/cluster"
	"github.com/yzma/yzma/node/faultnet"
)

func TestEnableFaults(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	rules := filepath.Join(t.TempDir(), "rules")
	if err := faultnet.WriteRules(rules, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	ht := &cluster.HTTPTransport{}
	ccfg := &cluster.Config{Transport: ht}
	if err := enableFaults(ccfg, rules, log); err != nil {
		t.Fatal(err)
	}
	if ccfg.WrapGossip == nil || ht.DialWith == nil {
		t.Fatalf("gossip wrapped %v, replication dials filtered %v", ccfg.WrapGossip != nil, ht.DialWith != nil)
	}
	if !strings.Contains(logs.String(), "TEST FAULT INJECTION IS ON") {
		t.Fatalf("no warning logged: %s", logs.String())
	}
	// The replication channel obeys the rules.
	if _, err := ht.VersionVector(t.Context(), cluster.Endpoint{Addr: "127.0.0.1:1"}); !errors.Is(err, faultnet.ErrBlocked) {
		t.Fatalf("call to a blocked peer: %v", err)
	}

	if err := enableFaults(&cluster.Config{Transport: otherTransport{}}, rules, log); err == nil {
		t.Fatal("a transport it cannot filter was accepted")
	}
}

type otherTransport struct{ cluster.Transport }
