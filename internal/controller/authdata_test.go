package controller

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// These tests need no API server.

// testAuthData is a valid auth Secret's data, with fixed values.
func testAuthData() map[string][]byte {
	return map[string][]byte{
		authTokensKey:     []byte("rw admin-token\nro reader-token\n"),
		authPeerTokensKey: []byte("peer-secret\n"),
		authGossipKeysKey: []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) + "\n"),
	}
}

func TestNewAuthData(t *testing.T) {
	a, err := newAuthData(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 3 {
		t.Errorf("keys %v, want tokens, peer-tokens and gossip-keys", slices.Collect(maps.Keys(a)))
	}
	for key, re := range map[string]string{
		authTokensKey:     `^rw [0-9a-f]{64}\n$`,
		authPeerTokensKey: `^[0-9a-f]{64}\n$`,
		authGossipKeysKey: `^[A-Za-z0-9+/]{43}=\n$`,
	} {
		if !regexp.MustCompile(re).Match(a[key]) {
			t.Errorf("%s = %q, want %s", key, a[key], re)
		}
	}
	if err := checkAuthData(a); err != nil {
		t.Errorf("generated data rejected: %v", err)
	}
	if k, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(a[authGossipKeysKey]))); len(k) != 32 {
		t.Errorf("gossip key of %d bytes, want 32", len(k))
	}
	tok, ok := firstRWToken(a[authTokensKey])
	if _, err := hex.DecodeString(tok); !ok || err != nil || len(tok) != 64 {
		t.Errorf("operator token %q, %v", tok, ok)
	}
	b, err := newAuthData(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for k := range a {
		if bytes.Equal(a[k], b[k]) {
			t.Errorf("%s is the same twice: %q", k, a[k])
		}
	}
	if _, err := newAuthData(bytes.NewReader(make([]byte, 40))); err == nil {
		t.Error("a short random source went unnoticed")
	}
}

func TestCheckAuthData(t *testing.T) {
	with := func(key, value string) map[string][]byte {
		d := testAuthData()
		d[key] = []byte(value)
		return d
	}
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	tests := []struct {
		name string
		data map[string][]byte
		ok   bool
	}{
		{"valid", testAuthData(), true},
		{"read-only tokens only", with(authTokensKey, "ro r\n"), false},
		{"empty tokens", with(authTokensKey, ""), false},
		{"no peer secret", with(authPeerTokensKey, "# none\n"), false},
		{"no gossip key", with(authGossipKeysKey, "\n"), false},
		{"gossip keys of 16 and 24 bytes", with(authGossipKeysKey, b64(16)+"\n"+b64(24)+"\n"), true},
		{"gossip key of 20 bytes", with(authGossipKeysKey, b64(20)), false},
		{"gossip key not base64", with(authGossipKeysKey, "not base64!"), false},
		{"second gossip key bad", with(authGossipKeysKey, b64(32)+"\nxx"), false},
		{"a tokens line the node refuses", with(authTokensKey, "rw a\nadmin b\n"), false},
		{"a peer secret with a space", with(authPeerTokensKey, "a b\n"), false},
		{"comments and a read-only token beside", with(authTokensKey, "# ops\nro r\nrw w\n"), true},
	}
	for _, tt := range tests {
		err := checkAuthData(tt.data)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, errAuthData)) {
			t.Errorf("%s: %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
