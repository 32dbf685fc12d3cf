package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/yzma/yzma/node/crdt"
)

// Every change this node applies (its own writes and deletes, replicated
// operations) is in the feed once, in order, with the state after it.
func TestFeedRecordsEveryChangeInOrder(t *testing.T) {
	a, b := openStore(t), openStore(t)
	mustPut(t, a, "x", "1")
	mustPut(t, a, "x", "2")
	if _, err := a.Delete(context.Background(), []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	op := mustPut(t, b, "y", "from b")
	if _, err := a.ApplyRemote(context.Background(), []crdt.Op{op}); err != nil {
		t.Fatal(err)
	}
	changes, wake, err := a.ChangesSince(0, 100)
	if err != nil || wake != nil {
		t.Fatalf("ChangesSince(0) = %v, %v", wake, err)
	}
	var got []string
	for i, c := range changes {
		if c.Seq != uint64(i+1) {
			t.Fatalf("change %d has Seq %d", i, c.Seq)
		}
		got = append(got, fmt.Sprintf("%s=%s/%v/%d", c.Key, c.Shown().Value, c.Deleted(), c.Siblings()))
	}
	want := "[x=1/false/1 x=2/false/1 x=/true/0 y=from b/false/1]"
	if fmt.Sprint(got) != want {
		t.Fatalf("changes = %v, want %v", got, want)
	}
	if tok := crdt.EncodeToken(changes[3].Context()); tok == "" {
		t.Fatal("no context")
	}
	if n := a.FeedPosition(); n != 4 {
		t.Fatalf("position %d, want 4", n)
	}
	if page, _, _ := a.ChangesSince(1, 2); len(page) != 2 || page[0].Seq != 2 {
		t.Fatalf("page after 1 = %+v", page)
	}
	// At the head: nothing, and a channel closed by the next change.
	_, wake, err = a.ChangesSince(4, 100)
	if err != nil || wake == nil {
		t.Fatalf("at the head: %v, %v", wake, err)
	}
	mustPut(t, a, "z", "3")
	select {
	case <-wake:
	case <-time.After(5 * time.Second):
		t.Fatal("the next change did not wake the watcher")
	}
	if _, _, err := a.ChangesSince(99, 1); !errors.Is(err, ErrCursorGone) {
		t.Fatalf("a position beyond the head: %v, want ErrCursorGone", err)
	}
}

// The feed is bounded: a position it no longer reaches is ErrCursorGone,
// and the current state is listed instead.
func TestFeedWindow(t *testing.T) {
	s := &Store{feed: feed{max: 100}} // the window alone
	f := &s.feed
	st := &crdt.KeyState{Versions: []crdt.Version{{Dot: crdt.Dot{Node: 1, Counter: 1}, Value: []byte("v")}}}
	for i := range f.max + 10 {
		f.publish([]Change{{Key: fmt.Appendf(nil, "k%d", i), state: st}}, nil, 0)
	}
	if len(f.changes) != f.max || f.first != 11 || f.last != uint64(f.max)+10 {
		t.Fatalf("window %d changes from %d to %d", len(f.changes), f.first, f.last)
	}
	if _, _, err := s.ChangesSince(9, 1); !errors.Is(err, ErrCursorGone) {
		t.Fatalf("after 9: %v, want ErrCursorGone", err)
	}
	if page, _, err := s.ChangesSince(10, 1); err != nil || page[0].Seq != 11 {
		t.Fatalf("after 10: %+v, %v", page, err)
	}
}

func TestStatesListsLiveKeysUnderPrefix(t *testing.T) {
	s := openStore(t)
	for _, k := range []string{"a/1", "a/2", "a/3", "b/1"} {
		mustPut(t, s, k, "v-"+k)
	}
	if _, err := s.Delete(context.Background(), []byte("a/2"), nil); err != nil {
		t.Fatal(err)
	}
	page, err := s.States([]byte("a/"), nil, 10)
	if err != nil || len(page) != 2 || string(page[0].Key) != "a/1" || string(page[1].Shown().Value) != "v-a/3" {
		t.Fatalf("States = %+v, %v", page, err)
	}
	if page, _ := s.States([]byte("a/"), []byte("a/1"), 10); len(page) != 1 || string(page[0].Key) != "a/3" {
		t.Fatalf("States after a/1 = %+v", page)
	}
}
