package config

import (
	"encoding/base64"
	"fmt"

	"github.com/yzma/yzma/node/creds"
)

// Credentials are the node's credentials, loaded from the configuration;
// those from files follow the files (package creds). A nil field is a
// credential not configured.
type Credentials struct {
	Tokens     *creds.File[creds.Tokens]  // client tokens; nil: the API is open
	Peer       *creds.File[creds.Secrets] // peer secrets; nil: none
	GossipKeys *creds.File[[][]byte]      // gossip keys, the primary first; nil: none
	TLS        *creds.TLS                 // nil: plain HTTP
}

// LoadCredentials reads the credentials the configuration names; an
// unreadable or malformed file is an error here, at start.
func (c Config) LoadCredentials() (Credentials, error) {
	var out Credentials
	var err error
	switch {
	case c.API.AuthTokenFile != "":
		if out.Tokens, err = creds.NewFile(one(creds.ParseTokens), c.API.AuthTokenFile); err != nil {
			return Credentials{}, fmt.Errorf("API.AuthTokenFile: %w", err)
		}
	case c.API.AuthToken != "":
		out.Tokens = creds.Static(creds.TokensOf(c.API.AuthToken))
	}
	switch {
	case c.Peering.PeerTokenFile != "":
		if out.Peer, err = creds.NewFile(one(creds.ParseSecrets), c.Peering.PeerTokenFile); err != nil {
			return Credentials{}, fmt.Errorf("Peering.PeerTokenFile: %w", err)
		}
	case c.Peering.PeerToken != "":
		out.Peer = creds.Static(creds.SecretsOf(c.Peering.PeerToken))
	}
	switch {
	case c.Peering.GossipKeyFile != "":
		if out.GossipKeys, err = creds.NewFile(one(creds.ParseGossipKeys), c.Peering.GossipKeyFile); err != nil {
			return Credentials{}, fmt.Errorf("Peering.GossipKeyFile: %w", err)
		}
	case c.Peering.GossipKey != "":
		key, err := base64.StdEncoding.DecodeString(c.Peering.GossipKey)
		if err != nil {
			return Credentials{}, fmt.Errorf("Peering.GossipKey: %w", err)
		}
		out.GossipKeys = creds.Static([][]byte{key})
	}
	if c.API.TLSCertFile != "" {
		if out.TLS, err = creds.NewTLS(c.API.TLSCertFile, c.API.TLSKeyFile, c.API.TLSCAFile); err != nil {
			return Credentials{}, fmt.Errorf("API.TLSCertFile/TLSKeyFile/TLSCAFile: %w", err)
		}
	}
	return out, nil
}

// one adapts a parser of one file to creds.NewFile.
func one[T any](parse func([]byte) (T, error)) func([][]byte) (T, error) {
	return func(raw [][]byte) (T, error) { return parse(raw[0]) }
}
