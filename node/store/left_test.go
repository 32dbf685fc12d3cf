package store

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/yzma/yzma/node/crdt"
)

// TestLeftMarkIsDurable: the mark survives a reopen and a compaction, and
// clearing it does too.
func TestLeftMarkIsDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "yzma.db")
	ctx := context.Background()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Left(); ok {
		t.Fatal("a new file is marked left")
	}
	mustPut(t, s, "k", "v")
	want := LeftMark{
		VersionVector: s.VersionVector().Clone(),
		Peers:         map[string]crdt.VersionVector{"node-0": s.VersionVector().Clone()},
		At:            time.Unix(1700000000, 0).UTC(),
	}
	if err := s.MarkLeft(ctx, want); err != nil {
		t.Fatal(err)
	}
	reopen := func() {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s, err = Open(path, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string, wantLeft bool) {
		t.Helper()
		got, ok := s.Left()
		switch {
		case ok != wantLeft:
			t.Fatalf("%s: left %v, want %v", when, ok, wantLeft)
		case ok && (!reflect.DeepEqual(got.VersionVector, want.VersionVector) || !reflect.DeepEqual(got.Peers, want.Peers) || !got.At.Equal(want.At)):
			t.Fatalf("%s: mark %+v, want %+v", when, got, want)
		}
	}
	check("in memory", true)
	reopen()
	check("after a reopen", true)
	if _, _, err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	reopen()
	check("after a compaction", true)
	if got := value(t, s, "k"); got != "v" {
		t.Fatalf("k = %q", got)
	}
	if err := s.ClearLeft(ctx); err != nil {
		t.Fatal(err)
	}
	check("cleared, in memory", false)
	reopen()
	check("cleared, after a reopen", false)
	if err := s.ClearLeft(ctx); err != nil { // nothing to clear
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkLeft(ctx, want); err == nil {
		t.Fatal("MarkLeft on a closed store succeeded")
	}
}
