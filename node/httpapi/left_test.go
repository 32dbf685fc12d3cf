package httpapi_test

import (
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/yzma/yzma/node"
	"github.com/yzma/yzma/node/api"
)

// call sends a request to a member's API and reads the answer.
func call(t *testing.T, method, url, body string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{code: resp.StatusCode, header: resp.Header, body: b}
}

// selfState is the state a member's GET /cluster/members gives name.
func selfState(t *testing.T, m *memberNode, name string) string {
	t.Helper()
	var ms api.Members
	call(t, http.MethodGet, m.url+"/cluster/members", "").wantOK(t, &ms)
	for _, mb := range ms.Members {
		if mb.Name == name {
			return mb.State
		}
	}
	return "absent"
}

// wantLeftOverHTTP checks what a member that left answers: writes 503,
// /readyz 503, reads served, itself listed as left, a join with peers 409.
func wantLeftOverHTTP(t *testing.T, m *memberNode, name, seed string) {
	t.Helper()
	call(t, http.MethodPut, m.url+"/keys/late", "v").wantError(t, http.StatusServiceUnavailable, "leaving the cluster")
	call(t, http.MethodGet, m.url+"/readyz", "").wantError(t, http.StatusServiceUnavailable, node.ErrLeft.Error())
	if r := call(t, http.MethodGet, m.url+"/keys/k?raw=1", ""); r.code != http.StatusOK || string(r.body) != "v" {
		t.Fatalf("read on a node that left: %d %q", r.code, r.body)
	}
	if s := selfState(t, m, name); s != "left" {
		t.Fatalf("a node that left lists itself as %s", s)
	}
	call(t, http.MethodPost, m.url+"/cluster/join", `{"Peers":["`+seed+`"]}`).
		wantError(t, http.StatusConflict, "without peers to rejoin")
}

// TestLeftNodeOverHTTP: a node that left answers as such, also after a
// restart on its data file; a repeated leave answers 200 with what was
// handed off; POST /cluster/join without peers makes it a ready member
// again, and is a no-op on a member, while a join with peers keeps its
// behaviour.
func TestLeftNodeOverHTTP(t *testing.T) {
	ctx := t.Context()
	seed := startMember(t, "seed", nil)
	if err := seed.node.Join(ctx); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(t.TempDir(), "b.db")
	b := startMemberAt(t, "b", dbPath, nil, seed.gossip)
	if err := b.node.Join(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b and the seed see each other", 10*time.Second, func() bool {
		return selfState(t, seed, "b") == "alive" && selfState(t, b, "seed") == "alive"
	})
	call(t, http.MethodPut, b.url+"/keys/k", "v").wantOK(t, nil)

	var first api.LeaveResult
	call(t, http.MethodPost, b.url+"/cluster/leave", "").wantOK(t, &first)
	if first.Peers["seed"] == nil {
		t.Fatalf("leave handed off to %v, want the seed", first.Peers)
	}
	wantLeftOverHTTP(t, b, "b", seed.gossip)

	// Restarted on its data file (as cmd/node does: open, serve, Join).
	b.stop()
	b = startMemberAt(t, "b", dbPath, nil, seed.gossip)
	if err := b.node.Join(ctx); !errors.Is(err, node.ErrLeft) {
		t.Fatalf("Join of a restarted node that left: %v, want node.ErrLeft", err)
	}
	wantLeftOverHTTP(t, b, "b", seed.gossip)
	var again api.LeaveResult
	call(t, http.MethodPost, b.url+"/cluster/leave", "").wantOK(t, &again)
	if !reflect.DeepEqual(again, first) {
		t.Fatalf("repeated leave after a restart answered %+v, want %+v", again, first)
	}
	wantLeftOverHTTP(t, b, "b", seed.gossip)
	if s := selfState(t, seed, "b"); s != "left" {
		t.Fatalf("the seed lists b as %s after its repeated leave, want left", s)
	}
	call(t, http.MethodPut, seed.url+"/keys/meanwhile", "m").wantOK(t, nil)

	// Rejoin: an empty body, then {} on the member it is again.
	for _, body := range []string{"", "{}", `{"Peers":[]}`} {
		var ms api.Members
		call(t, http.MethodPost, b.url+"/cluster/join", body).wantOK(t, &ms)
		call(t, http.MethodGet, b.url+"/readyz", "").wantOK(t, nil)
		if r := call(t, http.MethodGet, b.url+"/keys/meanwhile?raw=1", ""); string(r.body) != "m" {
			t.Fatalf("ready after a rejoin (body %q) without a write made meanwhile: %d %q", body, r.code, r.body)
		}
		if s := selfState(t, b, "b"); s != "alive" {
			t.Fatalf("after a rejoin (body %q) b lists itself as %s", body, s)
		}
	}
	waitFor(t, "the seed sees b alive again", 10*time.Second, func() bool { return selfState(t, seed, "b") == "alive" })
	call(t, http.MethodPut, b.url+"/keys/after", "a").wantOK(t, nil)
	waitFor(t, "the seed has b's new write", 10*time.Second, func() bool {
		r := call(t, http.MethodGet, seed.url+"/keys/after?raw=1", "")
		return r.code == http.StatusOK && string(r.body) == "a"
	})
	// A join with peers on a member is what it was.
	var ms api.Members
	call(t, http.MethodPost, b.url+"/cluster/join", `{"Peers":["`+seed.gossip+`"]}`).wantOK(t, &ms)
	if len(ms.Members) != 2 {
		t.Fatalf("join with peers answered %+v, want both members", ms)
	}
}
