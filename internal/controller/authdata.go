package controller

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The auth Secret's contents (the keys are in config.go): files of lines,
// where empty lines and lines starting with # are ignored, as the node
// reads them. The functions here are pure but for the randomness they are
// given, and tested without an API server.

// errAuthData means an auth Secret's data is not what the nodes can use.
var errAuthData = errors.New("unusable auth data")

// newAuthData makes a generated auth Secret's data from random bytes read
// from rnd (crypto/rand's Reader): one rw client token and one peer
// secret, 32 bytes each in hex, and one gossip key of 32 bytes (AES-256)
// in base64.
func newAuthData(rnd io.Reader) (map[string][]byte, error) {
	var b [3][32]byte
	for i := range b {
		if _, err := io.ReadFull(rnd, b[i][:]); err != nil {
			return nil, fmt.Errorf("random bytes: %w", err)
		}
	}
	return map[string][]byte{
		authTokensKey:     []byte("rw " + hex.EncodeToString(b[0][:]) + "\n"),
		authPeerTokensKey: []byte(hex.EncodeToString(b[1][:]) + "\n"),
		authGossipKeysKey: []byte(base64.StdEncoding.EncodeToString(b[2][:]) + "\n"),
	}, nil
}

// newAuthSecretData is newAuthData from crypto/rand.
func newAuthSecretData() (map[string][]byte, error) { return newAuthData(rand.Reader) }

// checkAuthData checks an auth Secret's data as the nodes and the operator
// use it: a client token the operator may write with (rw), at least one
// peer secret, and gossip keys that are base64 of 16, 24 or 32 bytes, at
// least one.
func checkAuthData(data map[string][]byte) error {
	if _, ok := firstRWToken(data[authTokensKey]); !ok {
		return fmt.Errorf("%w: %s has no rw token (a line \"rw <token>\" or \"<token>\")", errAuthData, authTokensKey)
	}
	if len(fileLines(data[authPeerTokensKey])) == 0 {
		return fmt.Errorf("%w: %s has no peer secret", errAuthData, authPeerTokensKey)
	}
	keys := fileLines(data[authGossipKeysKey])
	if len(keys) == 0 {
		return fmt.Errorf("%w: %s has no key", errAuthData, authGossipKeysKey)
	}
	for i, k := range keys {
		raw, err := base64.StdEncoding.DecodeString(k)
		if err != nil || (len(raw) != 16 && len(raw) != 24 && len(raw) != 32) {
			return fmt.Errorf("%w: %s line %d is not base64 of 16, 24 or 32 bytes", errAuthData, authGossipKeysKey, i+1)
		}
	}
	return nil
}

// firstRWToken is the first token of a tokens file that may write: a line
// "rw <token>" or a bare "<token>"; "ro <token>" lines are skipped, and so
// is anything else the node would not take (it parses the file the same
// way, node/creds).
func firstRWToken(tokens []byte) (string, bool) {
	for _, line := range fileLines(tokens) {
		switch f := strings.Fields(line); {
		case len(f) == 1:
			return f[0], true
		case len(f) == 2 && f[0] == "rw":
			return f[1], true
		}
	}
	return "", false
}

// fileLines are the meaningful lines of a file: trimmed, neither empty
// nor comments.
func fileLines(data []byte) []string {
	var out []string
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}
