// Package wire decodes the CBOR that crosses a trust boundary: client
// tokens, peers' operation batches, version vectors and snapshot streams.
//
// The decoder's defaults allow any size the input declares. Here every
// decoder has explicit limits: nesting, array elements and map pairs are
// capped by the decoding mode (Limits), bodies by the caller (a
// MaxBytesReader or LimitReader), and a stream of items, which has no total
// size, by Stream, which lets the decoder buffer at most one item's limit
// beyond what it has decoded. Indefinite lengths and tags are refused: Yzma
// never writes them, and they only widen what a hostile peer can send.
// Decoding is only the first half: each type's Check (package crdt) then
// refuses values no replica could have made.
package wire

import (
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
)

// Limits of one decoding mode.
type Limits struct {
	MaxNested   int // nesting of arrays and maps (at least 4)
	MaxElements int // elements of one array (at least 16)
	MaxPairs    int // pairs of one map (at least 16)
}

// DecMode returns a decoding mode with the limits, or panics on limits the
// decoder refuses (a programming error: they are constants).
func (l Limits) DecMode() cbor.DecMode {
	m, err := cbor.DecOptions{
		MaxNestedLevels:  l.MaxNested,
		MaxArrayElements: l.MaxElements,
		MaxMapPairs:      l.MaxPairs,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("wire: decoding mode %+v: %v", l, err))
	}
	return m
}

// ErrItemTooLarge is returned by a Stream whose next item passes its limit.
var ErrItemTooLarge = errors.New("wire: item larger than its limit")

// Stream decodes a sequence of items from r, none larger than maxItem
// bytes.
type Stream struct {
	dec     *cbor.Decoder
	r       io.Reader
	maxItem int64
	read    int64
}

// NewStream returns a Stream over r with mode m.
func NewStream(m cbor.DecMode, r io.Reader, maxItem int64) *Stream {
	s := &Stream{r: r, maxItem: maxItem}
	s.dec = m.NewDecoder(readerFunc(s.readLimited))
	return s
}

// Decode decodes the next item into v; io.EOF at the clean end of the
// stream.
func (s *Stream) Decode(v any) error { return s.dec.Decode(v) }

// readLimited lets the decoder read at most maxItem bytes past the items it
// has decoded, so one item can never make it buffer more.
func (s *Stream) readLimited(p []byte) (int, error) {
	allowed := int64(s.dec.NumBytesRead()) + s.maxItem - s.read
	if allowed <= 0 {
		return 0, fmt.Errorf("%w (%d bytes)", ErrItemTooLarge, s.maxItem)
	}
	if int64(len(p)) > allowed {
		p = p[:allowed]
	}
	n, err := s.r.Read(p)
	s.read += int64(n)
	return n, err
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
