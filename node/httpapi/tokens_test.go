package httpapi_test

import (
	"encoding/base64"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/httpapi"
)

// rawToken encodes c as a token without normalizing it.
func rawToken(t *testing.T, c crdt.Context) string {
	t.Helper()
	b, err := cbor.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestForgedAndUnsortedTokensAre400s: a token claiming writes this node has
// not made, or one no node writes (a cloud unsorted, with repeats), is a
// 400 that changes nothing; later plain writes stay visible.
func TestForgedAndUnsortedTokensAre400s(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	e.put("/keys/k", "first")
	e.put("/keys/k", "second")
	origin := e.node.Origin()
	minted := e.node.Store().VersionVector()[origin]
	before, err := e.node.Store().Digest()
	if err != nil {
		t.Fatal(err)
	}
	other := crdt.NodeID(origin + 1)
	tokens := map[string]string{
		"own counter 1000 ahead": rawToken(t, crdt.Context{VV: crdt.VersionVector{origin: minted + 1000}}),
		"own dot ahead in cloud": rawToken(t, crdt.Context{Cloud: []crdt.Dot{{Node: origin, Counter: minted + 2}}}),
		"unsorted cloud":         rawToken(t, crdt.Context{Cloud: []crdt.Dot{{Node: other, Counter: 9}, {Node: other, Counter: 5}}}),
		"repeated dots":          rawToken(t, crdt.Context{Cloud: []crdt.Dot{{Node: other, Counter: 5}, {Node: other, Counter: 5}}}),
		"dot the vector covers":  rawToken(t, crdt.Context{VV: crdt.VersionVector{other: 9}, Cloud: []crdt.Dot{{Node: other, Counter: 3}}}),
	}
	for _, name := range slices.Sorted(maps.Keys(tokens)) {
		t.Run(name, func(t *testing.T) {
			for _, method := range []string{http.MethodPut, http.MethodDelete} {
				r := e.do(method, "/keys/k", strings.NewReader("forged"), api.ContextHeader, tokens[name])
				r.wantError(t, http.StatusBadRequest, "")
			}
			after, err := e.node.Store().Digest()
			if err != nil {
				t.Fatal(err)
			}
			if after != before {
				t.Fatal("a refused write changed the stored data")
			}
		})
	}
	e.put("/keys/k", "third") // plain writes go on and show
	var v []byte
	e.do(http.MethodGet, "/keys/k", nil).wantOK(t, &v)
	if string(v) != "third" {
		t.Fatalf("k = %q after a later write, want third", v)
	}
}
