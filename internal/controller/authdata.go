package controller

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/yzma/yzma/node/creds"
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

// checkAuthData checks an auth Secret's data with the node's own parsers
// (node/creds), so that what the operator takes the nodes take too: client
// tokens with one the operator may write with (rw), peer secrets, gossip
// keys.
func checkAuthData(data map[string][]byte) error {
	if _, err := creds.ParseTokens(data[authTokensKey]); err != nil {
		return fmt.Errorf("%w: %s: %w", errAuthData, authTokensKey, err)
	}
	if _, err := creds.FirstReadWrite(data[authTokensKey]); err != nil {
		return fmt.Errorf("%w: %s: %w (the operator needs one: a line \"rw <token>\")", errAuthData, authTokensKey, err)
	}
	if _, err := creds.ParseSecrets(data[authPeerTokensKey]); err != nil {
		return fmt.Errorf("%w: %s: %w", errAuthData, authPeerTokensKey, err)
	}
	if _, err := creds.ParseGossipKeys(data[authGossipKeysKey]); err != nil {
		return fmt.Errorf("%w: %s: %w", errAuthData, authGossipKeysKey, err)
	}
	return nil
}

// firstRWToken is the token the operator calls the nodes with: the first
// read-write one of a tokens file.
func firstRWToken(tokens []byte) (string, bool) {
	tok, err := creds.FirstReadWrite(tokens)
	return tok, err == nil
}
