package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/yzma/yzma/internal/syncbuf"
)

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestRunUsageAndConfigErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		msg  string
	}{
		{"help", []string{"-h"}, nil, exitOK, "-c file"},
		{"unknown flag", []string{"-x"}, nil, exitUsage, "flag provided but not defined"},
		{"extra argument", []string{"serve"}, nil, exitUsage, "unexpected arguments"},
		{"empty -j", []string{"-j", ","}, nil, exitUsage, "empty peer list"},
		{"bad log level", []string{"-log-level", "loud"}, nil, exitUsage, "-log-level"},
		{"missing config file", []string{"-c", filepath.Join(dir, "none.json")}, nil, exitError, "bad configuration"},
		{"bad env", nil, map[string]string{"YZMA_PEERING_BIND_PORT": "x"}, exitError, "YZMA_PEERING_BIND_PORT"},
		{"bad -j peer", []string{"-j", "nohost"}, nil, exitError, "Peering.Join[0]"},
		{"gossip key not base64", nil, map[string]string{"YZMA_GOSSIP_KEY": "not base64!"}, exitError, "Peering.GossipKey: not base64"},
		{"gossip key wrong size", nil, map[string]string{"YZMA_GOSSIP_KEY": "c2hvcnQ="}, exitError, "Peering.GossipKey: decodes to 5 bytes"},
		{"unusable data file", nil, map[string]string{"YZMA_DB_PATH": filepath.Join(dir, "no", "such", "dir.db"),
			"YZMA_API_BIND": "127.0.0.1:0"}, exitError, "node failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncbuf.Buffer
			if code := run(t.Context(), tt.args, envMap(tt.env), &out); code != tt.code {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tt.code, out.String())
			}
			if !strings.Contains(out.String(), tt.msg) {
				t.Fatalf("output lacks %q:\n%s", tt.msg, out.String())
			}
		})
	}
}

// TestRunDefaultsAndJoin starts without a config file and stops at once,
// and checks -j adds to the configured peers.
func TestRunDefaultsAndJoin(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // stop as soon as the API is up
	env := map[string]string{
		"YZMA_API_BIND":          "127.0.0.1:0",
		"YZMA_DB_PATH":           filepath.Join(t.TempDir(), "data.db"),
		"YZMA_PEERING_JOIN":      "a:1",
		"YZMA_PEERING_BIND_ADDR": "127.0.0.1",
		"YZMA_PEERING_BIND_PORT": fmt.Sprint(freePort(t)),
	}
	var out syncbuf.Buffer
	if code := run(ctx, []string{"-j", "b:2,c:3", "-j", "d:4", "-log-level", "debug"}, envMap(env), &out); code != exitOK {
		t.Fatalf("exit %d; output:\n%s", code, out.String())
	}
	var sawJoin, sawListen, sawClosed bool
	for line := range strings.Lines(out.String()) {
		var rec struct {
			Msg   string
			Peers []string
			Addr  string
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		switch {
		case strings.HasPrefix(rec.Msg, "joining peers"):
			sawJoin = reflect.DeepEqual(rec.Peers, []string{"a:1", "b:2", "c:3", "d:4"})
		case rec.Msg == "http api listening":
			sawListen = strings.HasPrefix(rec.Addr, "127.0.0.1:")
		case rec.Msg == "data file closed":
			sawClosed = true
		}
	}
	if !sawJoin || !sawListen || !sawClosed {
		t.Fatalf("join logged %v, listen logged %v, close logged %v:\n%s", sawJoin, sawListen, sawClosed, out.String())
	}
	if strings.Contains(out.String(), "INSECURE") {
		t.Fatalf("a node on loopback warned:\n%s", out.String())
	}
}

// TestRunWarnsWhenReachable: gossip on every interface (the default bind
// address) without a key is logged as a hole, once per hole.
func TestRunWarnsWhenReachable(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	env := map[string]string{
		"YZMA_API_BIND":          "127.0.0.1:0",
		"YZMA_DB_PATH":           filepath.Join(t.TempDir(), "data.db"),
		"YZMA_PEERING_BIND_ADDR": "0.0.0.0",
		"YZMA_PEERING_BIND_PORT": fmt.Sprint(freePort(t)),
	}
	var out syncbuf.Buffer
	if code := run(ctx, nil, envMap(env), &out); code != exitOK {
		t.Fatalf("exit %d; output:\n%s", code, out.String())
	}
	if n := strings.Count(out.String(), "INSECURE: gossip is neither encrypted nor authenticated"); n != 1 {
		t.Fatalf("%d gossip warnings, want 1:\n%s", n, out.String())
	}
	if strings.Contains(out.String(), "INSECURE: the API") {
		t.Fatalf("the API on loopback was called open:\n%s", out.String())
	}
}
