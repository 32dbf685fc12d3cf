package crdt

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/yzma/yzma/node/wire"
)

// ErrBadToken is returned for a causal-context token that does not decode
// or is over the limits.
var ErrBadToken = errors.New("malformed causal-context token")

// MaxTokenLen bounds a token's encoded length: room for MaxCloudDots dots
// and a vector of MaxContextEntries origins, far beyond any real read.
const MaxTokenLen = 1 << 20

// tokenDec decodes tokens with explicit limits (a token is client input).
var tokenDec = wire.Limits{MaxNested: 4, MaxElements: MaxCloudDots, MaxPairs: MaxContextEntries}.DecMode()

// EncodeToken renders a context, normalized, as the opaque token clients
// carry between a read and the write or delete that supersedes it.
func EncodeToken(c Context) string {
	b, err := cbor.Marshal(c.Normalize())
	if err != nil { // a Context always encodes
		panic(fmt.Sprintf("encode context: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeToken parses a token made by EncodeToken. Tokens are opaque and
// every node issues them normalized (see Context.Normalize), so a token
// over the limits, or one that is not in normal form (a cloud unsorted, with
// repeats or with dots its vector covers), was not issued by a node and is
// ErrBadToken: refusing it is safer than guessing what its author meant.
// Whether the dots it names can exist is for the replica to judge
// (Context.Beyond).
func DecodeToken(s string) (Context, error) {
	if len(s) > MaxTokenLen {
		return Context{}, fmt.Errorf("%w: %d bytes (limit %d)", ErrBadToken, len(s), MaxTokenLen)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Context{}, fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	var c Context
	if err := tokenDec.Unmarshal(b, &c); err != nil {
		return Context{}, fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	if err := c.Check(); err != nil {
		return Context{}, fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	if !c.IsNormal() {
		return Context{}, fmt.Errorf("%w: not in normal form (a cloud unsorted, with repeats or with dots the vector covers): no node issues such a token", ErrBadToken)
	}
	return c, nil
}
