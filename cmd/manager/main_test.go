package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRunRefusesBadInvocations checks the exits that need no API server;
// the manager itself runs in the tests of internal/controller and test/e2e.
func TestRunRefusesBadInvocations(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"help", []string{"-h"}, 0},
		{"unknown flag", []string{"-bogus"}, 2},
		{"unknown pod access", []string{"-pod-access=sideways"}, 2},
		{"bad watch namespace", []string{"-watch-namespace=ok,Not_A_Namespace"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(tt.args); got != tt.want {
				t.Errorf("run(%q) = %d, want %d", tt.args, got, tt.want)
			}
		})
	}
	t.Run("bad WATCH_NAMESPACE", func(t *testing.T) {
		t.Setenv("WATCH_NAMESPACE", "a,-b")
		if got := run(nil); got != 2 {
			t.Errorf("run with WATCH_NAMESPACE=a,-b = %d, want 2", got)
		}
	})
}

func TestParseNamespaces(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"", nil, false},
		{" , ,", nil, false},
		{"team-a", []string{"team-a"}, false},
		{" team-a, team-b ,team-a,", []string{"team-a", "team-b"}, false},
		{"team-a,Team-B", nil, true},
		{"team_a", nil, true},
		{"a/b", nil, true},
		{strings.Repeat("x", 64), nil, true},
	}
	for _, tt := range tests {
		got, err := parseNamespaces(tt.in)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("parseNamespaces(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}
