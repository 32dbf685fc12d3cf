package faults

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"
)

// Kind is what an operation does.
type Kind string

// Operation kinds.
const (
	Put    Kind = "put"
	Delete Kind = "delete"
)

// Outcome is what the client learnt of an operation.
type Outcome string

// Outcomes.
const (
	OK      Outcome = "ok"      // 2xx: applied and durable
	Failed  Outcome = "failed"  // definitely not applied: 4xx, 503, connection refused
	Unknown Outcome = "unknown" // timeout, broken connection, other 5xx: may be applied, even later
)

// Op is one write or delete as a client saw it.
type Op struct {
	Client int
	Node   int // the node it was sent to
	Kind   Kind
	Key    string
	Value  string // of a Put; unique across the history
	// Token: sent with the context token of a read of the same key on the
	// same node; Saw are the values that read returned.
	Token   bool
	Saw     []string `json:",omitempty"`
	Start   time.Time
	End     time.Time
	Outcome Outcome
	Err     string `json:",omitempty"`
}

func (o Op) String() string {
	s := fmt.Sprintf("%s %q", o.Kind, o.Key)
	if o.Kind == Put {
		s += fmt.Sprintf("=%q", o.Value)
	}
	if o.Token {
		s += fmt.Sprintf(" token(saw %q)", o.Saw)
	}
	s += fmt.Sprintf(" on node %d by client %d: %s", o.Node, o.Client, o.Outcome)
	if o.Err != "" {
		s += " (" + o.Err + ")"
	}
	return s
}

// Restore records that a node's data file was replaced, while the node was
// down, by a copy taken at Copied: what the node acknowledged between
// Copied and At may have been rolled back with it.
type Restore struct {
	Node   int
	Copied time.Time // when the copy was taken (the node was stopped then)
	At     time.Time // when it replaced the node's file
}

// History is everything the clients and the nemesis did.
type History struct {
	Ops      []Op
	Restores []Restore
}

// State is one node's final data: key → the values of its live versions.
type State map[string][]string

// Final is what every node holds at the end.
type Final struct {
	Digests []string // per node; "" when it could not be read
	States  []State  // per node; nil when it could not be read
}

// Result is the checker's verdict.
type Result struct {
	Lost        int
	Resurrected int
	Divergent   int
	Unexpected  int
	// RolledBack counts what a restore may legitimately have undone and
	// is therefore not counted above: acknowledged writes absent at the end
	// (LostToRestore) and values present again (ResurrectedByRestore)
	// because the operation was acknowledged by a node whose file was then
	// restored from a copy older than it, perhaps before it replicated.
	LostToRestore        int
	ResurrectedByRestore int
	// Reference is the node whose state lost, resurrected and unexpected
	// were judged on: one of the largest group of identical nodes.
	Reference int
	Groups    [][]int // nodes by identical digest and state, largest first

	LostOps            []Op           // up to maxExamples
	ResurrectedValues  []Resurrection // up to maxExamples
	UnexpectedValues   []string       // up to maxExamples, "key=value"
	CheckedWrites      int            // acknowledged writes judged for loss
	UncheckableWrites  int            // acknowledged writes absent but possibly superseded
	CheckedObservation int            // (value, observing op) pairs judged for resurrection
}

// Resurrection is a value present at the end that Op had removed.
type Resurrection struct {
	Key, Value string
	Write      *Op // the value's write, when known
	By         Op  // the acknowledged operation that removed it
}

const maxExamples = 10

// Check judges history against final.
func Check(h History, final Final) Result {
	var res Result
	res.Groups, res.Reference = groups(final)
	if len(res.Groups) > 0 {
		res.Divergent = len(final.Digests) - len(res.Groups[0])
	}
	var state State
	if res.Reference >= 0 && res.Reference < len(final.States) {
		state = final.States[res.Reference]
	}
	present := map[string]map[string]bool{} // key → value → present
	for k, vs := range state {
		present[k] = map[string]bool{}
		for _, v := range vs {
			present[k][v] = true
		}
	}

	byKey := map[string][]int{}
	writes := map[string]int{} // value → index of its put
	for i, o := range h.Ops {
		byKey[o.Key] = append(byKey[o.Key], i)
		if o.Kind == Put {
			writes[o.Value] = i
		}
	}

	// seenElsewhere: values a read on another node than their writer's
	// returned: they had left the writer, so no restore of it can excuse
	// their loss.
	seenElsewhere := map[string]bool{}
	for _, o := range h.Ops {
		for _, v := range o.Saw {
			if i, ok := writes[v]; ok && h.Ops[i].Node != o.Node {
				seenElsewhere[v] = true
			}
		}
	}

	// Lost.
	sup := map[string]*supersede{}
	for k, idx := range byKey {
		sup[k] = newSupersede(h.Ops, idx)
	}
	for i, w := range h.Ops {
		if w.Kind != Put || w.Outcome != OK {
			continue
		}
		if present[w.Key][w.Value] {
			res.CheckedWrites++
			continue
		}
		if sup[w.Key].could(h.Ops, i) {
			res.UncheckableWrites++
			continue
		}
		if rolledBack(h.Restores, w) && !seenElsewhere[w.Value] {
			res.LostToRestore++
			continue
		}
		res.CheckedWrites++
		res.Lost++
		if len(res.LostOps) < maxExamples {
			res.LostOps = append(res.LostOps, w)
		}
	}

	// Resurrected: values present that an acknowledged op removed.
	resurrected := map[[2]string]bool{}
	byRestore := map[[2]string]bool{}
	found := func(key, value string, by Op) {
		if resurrected[[2]string{key, value}] {
			return
		}
		if rolledBack(h.Restores, by) {
			byRestore[[2]string{key, value}] = true
			return
		}
		resurrected[[2]string{key, value}] = true
		res.Resurrected++
		if len(res.ResurrectedValues) < maxExamples {
			r := Resurrection{Key: key, Value: value, By: by}
			if i, ok := writes[value]; ok {
				w := h.Ops[i]
				r.Write = &w
			}
			res.ResurrectedValues = append(res.ResurrectedValues, r)
		}
	}
	for _, o := range h.Ops {
		if !o.Token || o.Outcome != OK {
			continue
		}
		for _, v := range o.Saw {
			res.CheckedObservation++
			if present[o.Key][v] {
				found(o.Key, v, o)
			}
		}
	}
	for _, key := range sortedKeys(present) {
		for _, v := range slices.Sorted(maps.Keys(present[key])) {
			i, ok := writes[v]
			if !ok || h.Ops[i].Key != key {
				continue
			}
			w := h.Ops[i]
			if w.Outcome != OK {
				continue
			}
			for _, j := range byKey[key] {
				o := h.Ops[j]
				if j == i || o.Token || o.Outcome != OK || o.Node != w.Node || !o.Start.After(w.End) ||
					restoredBetween(h.Restores, w.Node, w.End, o.Start) {
					continue
				}
				res.CheckedObservation++
				found(key, v, o)
			}
		}
	}

	for kv := range byRestore {
		if !resurrected[kv] {
			res.ResurrectedByRestore++
		}
	}

	// Unexpected: present, but never written by an op that may have been
	// applied.
	for _, key := range sortedKeys(present) {
		for _, v := range slices.Sorted(maps.Keys(present[key])) {
			if i, ok := writes[v]; ok && h.Ops[i].Key == key && h.Ops[i].Outcome != Failed {
				continue
			}
			res.Unexpected++
			if len(res.UnexpectedValues) < maxExamples {
				res.UnexpectedValues = append(res.UnexpectedValues, key+"="+v)
			}
		}
	}
	return res
}

// supersede knows, for one key, what may have removed a write: an op with
// an unknown outcome, or an acknowledged one that ended after the write
// started.
type supersede struct {
	unknown    bool
	last, next int // the acknowledged ops that ended last and next to last; -1: none
}

func newSupersede(ops []Op, sameKey []int) *supersede {
	s := &supersede{last: -1, next: -1}
	for _, j := range sameKey {
		switch o := ops[j]; o.Outcome {
		case Unknown:
			s.unknown = true
		case OK:
			switch {
			case s.last < 0 || o.End.After(ops[s.last].End):
				s.last, s.next = j, s.last
			case s.next < 0 || o.End.After(ops[s.next].End):
				s.next = j
			}
		}
	}
	return s
}

// could reports whether an op on the key other than ops[i] may have
// removed ops[i]'s value.
func (s *supersede) could(ops []Op, i int) bool {
	if s.unknown {
		return true
	}
	other := s.last
	if other == i {
		other = s.next
	}
	return other >= 0 && ops[other].End.After(ops[i].Start)
}

// rolledBack reports whether o was acknowledged by a node whose file was
// later restored from a copy taken before o ended.
func rolledBack(rs []Restore, o Op) bool {
	for _, r := range rs {
		if r.Node == o.Node && o.End.After(r.Copied) && o.Start.Before(r.At) {
			return true
		}
	}
	return false
}

func restoredBetween(rs []Restore, node int, from, to time.Time) bool {
	for _, r := range rs {
		if r.Node == node && r.At.After(from) && r.At.Before(to) {
			return true
		}
	}
	return false
}

// groups sorts nodes into groups of identical digest and state, largest
// first (ties: lowest node first), and names the reference node.
func groups(final Final) ([][]int, int) {
	byPrint := map[string][]int{}
	var prints []string
	for n := range final.Digests {
		var st State
		if n < len(final.States) {
			st = final.States[n]
		}
		p := "unreadable:" + fmt.Sprint(n)
		if final.Digests[n] != "" && st != nil {
			p = final.Digests[n] + "/" + st.Fingerprint()
		}
		if _, ok := byPrint[p]; !ok {
			prints = append(prints, p)
		}
		byPrint[p] = append(byPrint[p], n)
	}
	var out [][]int
	for _, p := range prints {
		out = append(out, byPrint[p])
	}
	sort.SliceStable(out, func(a, b int) bool {
		if len(out[a]) != len(out[b]) {
			return len(out[a]) > len(out[b])
		}
		return out[a][0] < out[b][0]
	})
	if len(out) == 0 {
		return nil, -1
	}
	return out, out[0][0]
}

// Fingerprint is a hash of the state, equal for equal states.
func (s State) Fingerprint() string {
	h := sha256.New()
	for _, k := range sortedKeys(s) {
		fmt.Fprintf(h, "%q:", k)
		for _, v := range slices.Sorted(slices.Values(s[k])) {
			fmt.Fprintf(h, " %q", v)
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
