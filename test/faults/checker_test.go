package faults

import (
	"testing"
	"time"
)

// at is a time n ticks after an arbitrary origin.
func at(n int) time.Time { return time.Unix(1000, 0).Add(time.Duration(n) * time.Millisecond) }

func put(node int, key, value string, start, end int, out Outcome) Op {
	return Op{Node: node, Kind: Put, Key: key, Value: value, Start: at(start), End: at(end), Outcome: out}
}

func del(node int, key string, start, end int, out Outcome) Op {
	return Op{Node: node, Kind: Delete, Key: key, Start: at(start), End: at(end), Outcome: out}
}

func withToken(o Op, saw ...string) Op {
	o.Token, o.Saw = true, saw
	return o
}

// same is a Final of n identical nodes holding st.
func same(n int, st State) Final {
	f := Final{}
	for range n {
		f.Digests = append(f.Digests, "d")
		f.States = append(f.States, st)
	}
	return f
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		h     History
		final Final
		want  Result // only the counts and Reference are compared
	}{
		{
			name:  "empty",
			final: same(3, State{}),
		},
		{
			name:  "every acknowledged write present",
			h:     History{Ops: []Op{put(0, "a", "w1", 0, 1, OK), put(1, "b", "w2", 0, 1, OK)}},
			final: same(3, State{"a": {"w1"}, "b": {"w2"}}),
		},
		{
			name:  "lost write",
			h:     History{Ops: []Op{put(0, "a", "w1", 0, 1, OK), put(1, "b", "w2", 0, 1, OK)}},
			final: same(3, State{"a": {"w1"}}),
			want:  Result{Lost: 1},
		},
		{
			name: "lost: only earlier ops on the key, or failed ones",
			h: History{Ops: []Op{
				put(0, "a", "w1", 0, 1, OK), del(1, "a", 2, 3, OK), put(0, "a", "w2", 4, 5, OK),
				del(2, "a", 6, 9, Failed), put(1, "a", "w3", 6, 9, Failed),
			}},
			final: same(3, State{}),
			want:  Result{Lost: 1},
		},
		{
			name: "superseded: a later acknowledged write or delete",
			h: History{Ops: []Op{
				put(0, "a", "w1", 0, 2, OK), put(1, "a", "w2", 1, 3, OK), // concurrent: either may win
				put(0, "b", "w3", 0, 1, OK), del(2, "b", 5, 6, OK),
			}},
			final: same(3, State{"a": {"w2"}}),
		},
		{
			name: "superseded: an op of unknown outcome, whenever it ran",
			h: History{Ops: []Op{
				del(1, "a", 0, 1, Unknown), put(0, "a", "w1", 5, 6, OK),
			}},
			final: same(3, State{}),
		},
		{
			name: "resurrected: a token delete saw it",
			h: History{Ops: []Op{
				put(0, "a", "w1", 0, 1, OK), withToken(del(1, "a", 3, 4, OK), "w1"),
			}},
			final: same(3, State{"a": {"w1"}}),
			want:  Result{Resurrected: 1},
		},
		{
			name: "resurrected: a token write saw it",
			h: History{Ops: []Op{
				put(0, "a", "w1", 0, 1, OK), withToken(put(1, "a", "w2", 3, 4, OK), "w1"),
			}},
			final: same(3, State{"a": {"w1", "w2"}}),
			want:  Result{Resurrected: 1},
		},
		{
			name: "not resurrected: the token op failed or is unknown",
			h: History{Ops: []Op{
				put(0, "a", "w1", 0, 1, OK), withToken(del(1, "a", 3, 4, Failed), "w1"),
				withToken(put(1, "a", "w2", 3, 4, Unknown), "w1"),
			}},
			final: same(3, State{"a": {"w1", "w2"}}),
		},
		{
			name: "resurrected: a later plain delete on the same node",
			h: History{Ops: []Op{
				put(0, "a", "w1", 0, 1, OK), del(0, "a", 3, 4, OK),
			}},
			final: same(3, State{"a": {"w1"}}),
			want:  Result{Resurrected: 1},
		},
		{
			name: "resurrected: a later plain write on the same node",
			h: History{Ops: []Op{
				put(0, "a", "w1", 0, 1, OK), put(0, "a", "w2", 3, 4, OK),
			}},
			final: same(3, State{"a": {"w1", "w2"}}),
			want:  Result{Resurrected: 1},
		},
		{
			name: "siblings: a plain write on another node may not have seen it",
			h: History{Ops: []Op{
				put(0, "a", "w1", 0, 1, OK), put(1, "a", "w2", 3, 4, OK),
			}},
			final: same(3, State{"a": {"w1", "w2"}}),
		},
		{
			name: "siblings: a plain write on the same node that overlapped it",
			h: History{Ops: []Op{
				put(0, "a", "w1", 0, 2, OK), put(0, "a", "w2", 1, 4, OK),
			}},
			final: same(3, State{"a": {"w1", "w2"}}),
		},
		{
			name: "not resurrected: the node's file was restored in between",
			h: History{
				Ops:      []Op{put(0, "a", "w1", 0, 1, OK), del(0, "a", 5, 6, OK)},
				Restores: []Restore{{Node: 0, Copied: at(-5), At: at(3)}},
			},
			final: same(3, State{"a": {"w1"}}),
		},
		{
			name: "resurrected: a restore of another node, or outside the window, does not excuse",
			h: History{
				Ops:      []Op{put(0, "a", "w1", 0, 2, OK), del(0, "a", 5, 6, OK)},
				Restores: []Restore{{Node: 1, Copied: at(-5), At: at(3)}, {Node: 0, Copied: at(-5), At: at(1)}, {Node: 0, Copied: at(7), At: at(8)}},
			},
			final: same(3, State{"a": {"w1"}}),
			want:  Result{Resurrected: 1},
		},
		{
			name: "rolled back: a write acknowledged after the copy its node was restored from",
			h: History{
				Ops:      []Op{put(0, "a", "w1", 2, 3, OK), put(1, "b", "w2", 2, 3, OK)},
				Restores: []Restore{{Node: 0, Copied: at(1), At: at(5)}},
			},
			final: same(3, State{"b": {"w2"}}),
			want:  Result{LostToRestore: 1},
		},
		{
			name: "lost despite a restore: in the copy, on another node, or after it",
			h: History{
				Ops: []Op{
					put(0, "a", "w1", 0, 1, OK), put(1, "b", "w2", 2, 3, OK), put(0, "c", "w3", 6, 7, OK),
				},
				Restores: []Restore{{Node: 0, Copied: at(1), At: at(5)}},
			},
			final: same(3, State{}),
			want:  Result{Lost: 3},
		},
		{
			name: "lost despite a restore: another node had read it",
			h: History{
				Ops: []Op{
					put(0, "a", "w1", 2, 3, OK), withToken(put(1, "a", "w2", 3, 4, Failed), "w1"),
				},
				Restores: []Restore{{Node: 0, Copied: at(1), At: at(5)}},
			},
			final: same(3, State{}),
			want:  Result{Lost: 1},
		},
		{
			name: "rolled back: a delete acknowledged after the copy its node was restored from",
			h: History{
				Ops: []Op{
					put(0, "a", "w1", 0, 1, OK), del(0, "a", 3, 4, OK),
					put(0, "b", "w2", 0, 1, OK), withToken(del(0, "b", 3, 4, OK), "w2"),
				},
				Restores: []Restore{{Node: 0, Copied: at(2), At: at(5)}},
			},
			final: same(3, State{"a": {"w1"}, "b": {"w2"}}),
			want:  Result{ResurrectedByRestore: 2},
		},
		{
			name: "resurrected counts a value once",
			h: History{Ops: []Op{
				put(0, "a", "w1", 0, 1, OK), withToken(del(1, "a", 3, 4, OK), "w1"), del(0, "a", 5, 6, OK),
			}},
			final: same(3, State{"a": {"w1"}}),
			want:  Result{Resurrected: 1},
		},
		{
			name: "divergent replicas",
			h:    History{Ops: []Op{put(0, "a", "w1", 0, 1, OK)}},
			final: Final{
				Digests: []string{"x", "d", "d", "y"},
				States:  []State{{"a": {"w1"}, "b": {"w9"}}, {"a": {"w1"}}, {"a": {"w1"}}, {"a": {"w1"}}},
			},
			want: Result{Divergent: 2, Reference: 1, Unexpected: 0},
		},
		{
			name: "divergent: same digest, different state read; unreadable node",
			h:    History{Ops: []Op{put(0, "a", "w1", 0, 1, OK)}},
			final: Final{
				Digests: []string{"d", "d", "d", ""},
				States:  []State{{"a": {"w1"}}, {"a": {"w1"}}, {}, nil},
			},
			want: Result{Divergent: 2},
		},
		{
			name: "divergent: the reference is the largest group and the checks use it",
			h:    History{Ops: []Op{put(0, "a", "w1", 0, 1, OK)}},
			final: Final{
				Digests: []string{"d", "e", "e"},
				States:  []State{{"a": {"w1"}}, {}, {}},
			},
			want: Result{Divergent: 1, Lost: 1, Reference: 1},
		},
		{
			name:  "unexpected: a value nobody wrote, or a refused write",
			h:     History{Ops: []Op{put(0, "a", "w1", 0, 1, Failed), put(0, "b", "w2", 0, 1, Unknown)}},
			final: same(2, State{"a": {"w1"}, "b": {"w2"}, "c": {"w3"}}),
			want:  Result{Unexpected: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(tt.h, tt.final)
			if got.Lost != tt.want.Lost || got.Resurrected != tt.want.Resurrected || got.Divergent != tt.want.Divergent ||
				got.Unexpected != tt.want.Unexpected || got.Reference != tt.want.Reference ||
				got.LostToRestore != tt.want.LostToRestore || got.ResurrectedByRestore != tt.want.ResurrectedByRestore {
				t.Fatalf("Check = lost %d resurrected %d divergent %d unexpected %d reference %d rolled back %d/%d;"+
					" want %d %d %d %d %d %d/%d\n%+v",
					got.Lost, got.Resurrected, got.Divergent, got.Unexpected, got.Reference, got.LostToRestore, got.ResurrectedByRestore,
					tt.want.Lost, tt.want.Resurrected, tt.want.Divergent, tt.want.Unexpected, tt.want.Reference,
					tt.want.LostToRestore, tt.want.ResurrectedByRestore, got)
			}
			if len(got.LostOps) != got.Lost || len(got.ResurrectedValues) != got.Resurrected || len(got.UnexpectedValues) != got.Unexpected {
				t.Fatalf("examples do not match the counts: %+v", got)
			}
		})
	}
}

func TestCheckExamplesAreBounded(t *testing.T) {
	var h History
	for i := range 50 {
		h.Ops = append(h.Ops, put(0, "k"+string(rune('A'+i)), "w"+string(rune('A'+i)), 0, 1, OK))
	}
	got := Check(h, same(1, State{}))
	if got.Lost != 50 || len(got.LostOps) != maxExamples {
		t.Fatalf("lost %d with %d examples", got.Lost, len(got.LostOps))
	}
}

func TestFingerprint(t *testing.T) {
	a := State{"k": {"x", "y"}, "l": {"z"}}
	b := State{"l": {"z"}, "k": {"y", "x"}}
	if a.Fingerprint() != b.Fingerprint() {
		t.Fatal("sibling order changes the fingerprint")
	}
	for _, c := range []State{{"k": {"x"}, "l": {"z"}}, {"k": {"x", "y"}}, {"k": {"x\x00y"}, "l": {"z"}}, {}} {
		if c.Fingerprint() == a.Fingerprint() {
			t.Fatalf("%q has the fingerprint of %q", c, a)
		}
	}
}
