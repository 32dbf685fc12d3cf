package creds

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Role is what a client token may do.
type Role int

// Roles, weakest first.
const (
	RoleNone      Role = iota // not a valid token
	RoleReadOnly              // GET only
	RoleReadWrite             // everything a client may do
)

func (r Role) String() string {
	switch r {
	case RoleReadOnly:
		return "ro"
	case RoleReadWrite:
		return "rw"
	}
	return "none"
}

// Limits of credential files.
const (
	MaxEntries  = 64   // tokens, peer secrets or gossip keys in one file
	MaxTokenLen = 4096 // bytes of one token or secret
)

// ErrMalformed is returned for a credential file that cannot be used.
var ErrMalformed = errors.New("malformed credentials")

// digest is how secrets are held and compared.
type digest [sha256.Size]byte

func digestOf(s string) digest { return sha256.Sum256([]byte(s)) }

// Tokens is a set of client tokens with their roles.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	sum  digest
	role Role
}

// Empty reports whether there are no tokens (the API is then open).
func (t Tokens) Empty() bool { return len(t.entries) == 0 }

// Role returns tok's role; RoleNone for an unknown token. Every entry is
// compared, in constant time each.
func (t Tokens) Role(tok string) Role {
	sum := digestOf(tok)
	role := RoleNone
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1 {
			role = max(role, e.role)
		}
	}
	return role
}

// ParseTokens parses a client tokens file: one token per line, as
// "rw <token>", "ro <token>" or a bare "<token>" (read-write); empty lines
// and lines starting with # are skipped.
func ParseTokens(b []byte) (Tokens, error) {
	var t Tokens
	err := eachLine(b, func(n int, line string) error {
		fields := strings.Fields(line)
		role, tok := RoleReadWrite, ""
		switch {
		case len(fields) == 1:
			tok = fields[0]
		case len(fields) == 2 && fields[0] == "rw":
			tok = fields[1]
		case len(fields) == 2 && fields[0] == "ro":
			role, tok = RoleReadOnly, fields[1]
		default:
			return fmt.Errorf("line %d: want \"rw <token>\", \"ro <token>\" or \"<token>\"", n)
		}
		if err := checkSecret(tok); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		t.entries = append(t.entries, tokenEntry{sum: digestOf(tok), role: role})
		return nil
	})
	if err == nil && t.Empty() {
		err = errors.New("no token in the file")
	}
	return t, err
}

// TokensOf makes a set of one read-write token; an empty token makes an
// empty set.
func TokensOf(tok string) Tokens {
	if tok == "" {
		return Tokens{}
	}
	return Tokens{entries: []tokenEntry{{sum: digestOf(tok), role: RoleReadWrite}}}
}

// FirstReadWrite returns the first read-write token of a tokens file, for
// tools that act as an administrator (yzmactl in a pod, the operator).
func FirstReadWrite(b []byte) (string, error) {
	var found string
	err := eachLine(b, func(_ int, line string) error {
		fields := strings.Fields(line)
		if found != "" {
			return nil
		}
		switch {
		case len(fields) == 1:
			found = fields[0]
		case len(fields) == 2 && fields[0] == "rw":
			found = fields[1]
		}
		return nil
	})
	if err == nil && found == "" {
		err = fmt.Errorf("%w: no read-write token", ErrMalformed)
	}
	return found, err
}

// Secrets is an ordered list of peer secrets: the first is sent, every
// one is accepted.
type Secrets struct {
	first string
	sums  []digest
}

// ParseSecrets parses a peer secrets file: one secret per line, the first
// the one this node sends.
func ParseSecrets(b []byte) (Secrets, error) {
	var s Secrets
	err := eachLine(b, func(n int, line string) error {
		if strings.ContainsAny(line, " \t") {
			return fmt.Errorf("line %d: a secret has no spaces", n)
		}
		if err := checkSecret(line); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if s.first == "" {
			s.first = line
		}
		s.sums = append(s.sums, digestOf(line))
		return nil
	})
	if err == nil && s.first == "" {
		err = errors.New("no secret in the file")
	}
	return s, err
}

// SecretsOf makes a list of one secret; empty makes an empty list.
func SecretsOf(s string) Secrets {
	if s == "" {
		return Secrets{}
	}
	return Secrets{first: s, sums: []digest{digestOf(s)}}
}

// Empty reports whether there is no secret.
func (s Secrets) Empty() bool { return s.first == "" }

// First is the secret to send.
func (s Secrets) First() string { return s.first }

// Valid reports whether tok is one of the secrets.
func (s Secrets) Valid(tok string) bool {
	sum := digestOf(tok)
	ok := 0
	for _, d := range s.sums {
		ok |= subtle.ConstantTimeCompare(sum[:], d[:])
	}
	return ok == 1
}

// ParseGossipKeys parses a gossip keys file: one base64 key (16, 24 or 32
// bytes) per line, the first the primary that encrypts.
func ParseGossipKeys(b []byte) ([][]byte, error) {
	var keys [][]byte
	err := eachLine(b, func(n int, line string) error {
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			return fmt.Errorf("line %d: not base64", n)
		}
		switch len(k) {
		case 16, 24, 32:
		default:
			return fmt.Errorf("line %d: key of %d bytes; want 16, 24 or 32", n, len(k))
		}
		keys = append(keys, k)
		return nil
	})
	if err == nil && len(keys) == 0 {
		err = errors.New("no key in the file")
	}
	return keys, err
}

// eachLine calls fn with every trimmed line that is neither empty nor a
// comment, numbered from 1, and bounds their count. Errors it returns are
// ErrMalformed; they never quote a line (it may hold a secret).
func eachLine(b []byte, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 1024), MaxTokenLen+16)
	entries := 0
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if entries++; entries > MaxEntries {
			return fmt.Errorf("%w: more than %d entries", ErrMalformed, MaxEntries)
		}
		if err := fn(n, line); err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

func checkSecret(s string) error {
	if len(s) > MaxTokenLen {
		return fmt.Errorf("longer than %d bytes", MaxTokenLen)
	}
	for _, r := range s {
		if r < 0x21 || r > 0x7e {
			return errors.New("only printable ASCII without spaces")
		}
	}
	return nil
}
