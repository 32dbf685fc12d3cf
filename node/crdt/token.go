package crdt

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

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
// carry between a read and the write or delete that supersedes it. Every
// read and write answers one, so it is encoded by hand (appendContext)
// rather than through reflection; DecodeToken reads it with the general
// decoder.
func EncodeToken(c Context) string {
	var buf [96]byte
	return base64.RawURLEncoding.EncodeToString(appendContext(buf[:0], c.Normalize()))
}

// appendContext appends c in deterministic CBOR (RFC 8949 §4.2.1): the
// bytes cbor's CoreDetEncOptions produce for Context (TestAppendContext).
// The struct is a map with integer keys, fields omitted when empty: 1 is
// the vector (a map of node ID to counter, sorted by node ID, which for
// unsigned keys is the deterministic order), 2 the cloud (an array of dots,
// each a map {1: node, 2: counter}).
func appendContext(b []byte, c Context) []byte {
	fields := 0
	if len(c.VV) > 0 {
		fields++
	}
	if len(c.Cloud) > 0 {
		fields++
	}
	b = appendHead(b, cborMap, uint64(fields))
	if len(c.VV) > 0 {
		b = appendHead(b, cborUint, 1)
		b = appendHead(b, cborMap, uint64(len(c.VV)))
		var small [8]NodeID
		nodes := small[:0]
		for n := range c.VV {
			nodes = append(nodes, n)
		}
		slices.Sort(nodes)
		for _, n := range nodes {
			b = appendHead(b, cborUint, uint64(n))
			b = appendHead(b, cborUint, c.VV[n])
		}
	}
	if len(c.Cloud) > 0 {
		b = appendHead(b, cborUint, 2)
		b = appendHead(b, cborArray, uint64(len(c.Cloud)))
		for _, d := range c.Cloud {
			b = append(b, cborMap<<5|2, 1)
			b = appendHead(b, cborUint, uint64(d.Node))
			b = append(b, 2)
			b = appendHead(b, cborUint, d.Counter)
		}
	}
	return b
}

// CBOR major types used by appendContext.
const (
	cborUint  = 0
	cborArray = 4
	cborMap   = 5
)

// appendHead appends a CBOR head: major type and argument, in the
// shortest form.
func appendHead(b []byte, major byte, v uint64) []byte {
	m := major << 5
	switch {
	case v < 24:
		return append(b, m|byte(v))
	case v <= math.MaxUint8:
		return append(b, m|24, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), v)
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
