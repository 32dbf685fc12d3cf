package crdt

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// ErrBadToken is returned for a causal-context token that does not decode.
var ErrBadToken = errors.New("malformed causal-context token")

// EncodeToken renders a context as the opaque token clients carry between a
// read and the write or delete that supersedes it.
func EncodeToken(c Context) string {
	b, err := cbor.Marshal(c)
	if err != nil { // a Context always encodes
		panic(fmt.Sprintf("encode context: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeToken parses a token made by EncodeToken.
func DecodeToken(s string) (Context, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Context{}, fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	var c Context
	if err := cbor.Unmarshal(b, &c); err != nil {
		return Context{}, fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	return c, nil
}
