package httpapi_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"

	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/httpapi"
)

func TestDigest(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	digest := func(t *testing.T) api.Digest {
		t.Helper()
		var d api.Digest
		r := e.do(http.MethodGet, "/cluster/digest", nil)
		r.wantOK(t, &d)
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(d.Digest) {
			t.Fatalf("digest %q is not 64 hex digits", d.Digest)
		}
		return d
	}
	empty := digest(t)
	if empty.Keys != 0 {
		t.Fatalf("empty node: %+v", empty)
	}

	e.put("/keys/a", "1")
	e.put("/keys/b", "2")
	two := digest(t)
	if two.Keys != 2 || two.Digest == empty.Digest {
		t.Fatalf("after two writes: %+v (empty %+v)", two, empty)
	}
	if again := digest(t); again != two {
		t.Fatalf("a second read changed the digest: %+v, then %+v", two, again)
	}
	e.restart()
	if after := digest(t); after != two {
		t.Fatalf("the digest changed across a restart: %+v, then %+v", two, after)
	}

	// Every change of state changes it: a new version, then deletes back
	// to nothing (deleted keys leave no record).
	e.put("/keys/a", "1")
	if d := digest(t); d.Keys != 2 || d.Digest == two.Digest {
		t.Fatalf("after overwriting a with the same value: %+v", d)
	}
	e.do(http.MethodDelete, "/keys/a", nil).wantOK(t, nil)
	e.do(http.MethodDelete, "/keys/b", nil).wantOK(t, nil)
	if d := digest(t); d != empty {
		t.Fatalf("after deleting everything: %+v, want the empty node's %+v", d, empty)
	}

	// The envelope's exact shape.
	r := e.do(http.MethodGet, "/cluster/digest", nil)
	var raw struct {
		Status, Error string
		Data          map[string]any
	}
	if err := json.Unmarshal(r.body, &raw); err != nil || raw.Status != "ok" || len(raw.Data) != 2 ||
		raw.Data["Digest"] != empty.Digest || raw.Data["Keys"] != 0.0 {
		t.Fatalf("body %s (%v)", r.body, err)
	}
	e.do(http.MethodPost, "/cluster/digest", nil).wantError(t, http.StatusMethodNotAllowed, "not allowed")
}
