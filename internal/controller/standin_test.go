package controller

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/yzma/yzma/node/api"
)

// standIn is a NodeClient for tests: it records every call and, when
// inner is set, forwards to it (the real client, to real nodes); else it
// answers itself. failLeave makes leave calls fail.
type standIn struct {
	inner NodeClient

	mu        sync.Mutex
	failLeave error
	leftAs    string          // without inner: the state left pods are listed in ("" = left; "alive": still in)
	handOffTo []string        // without inner: the peers a leave reports it handed off to
	extra     []api.Member    // without inner: members listed besides the left pods
	calls     []string        // "leave <pod>" / "members <pod>"
	left      map[string]bool // without inner: pods whose leave succeeded
}

func (s *standIn) record(call string) {
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
}

// leaves returns the pods leave was called on, in order.
func (s *standIn) leaves() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.calls {
		if pod, ok := strings.CutPrefix(c, "leave "); ok {
			out = append(out, pod)
		}
	}
	return out
}

func (s *standIn) setFailLeave(err error) {
	s.mu.Lock()
	s.failLeave = err
	s.mu.Unlock()
}

// setLeftAs sets the state the members list left pods in: "" (left),
// "alive" (still in: confirmation waits) or "dead" (a lost announcement).
func (s *standIn) setLeftAs(state string) {
	s.mu.Lock()
	s.leftAs = state
	s.mu.Unlock()
}

// trail returns every recorded call and event, in order.
func (s *standIn) trail() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *standIn) Leave(ctx context.Context, t Target) (_ api.LeaveResult, err error) {
	s.record("leave " + t.Pod)
	defer func() {
		if err == nil {
			s.record("left " + t.Pod)
		}
	}()
	s.mu.Lock()
	fail := s.failLeave
	s.mu.Unlock()
	if fail != nil {
		return api.LeaveResult{}, fail
	}
	if s.inner != nil {
		return s.inner.Leave(ctx, t)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.left == nil {
		s.left = map[string]bool{}
	}
	s.left[t.Pod] = true
	res := api.LeaveResult{Peers: map[string]map[string]uint64{}}
	for _, peer := range s.handOffTo {
		res.Peers[peer] = map[string]uint64{}
	}
	return res, nil
}

func (s *standIn) Rejoin(ctx context.Context, t Target) error {
	s.record("rejoin " + t.Pod)
	if s.inner != nil {
		return s.inner.Rejoin(ctx, t)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.left, t.Pod)
	return nil
}

func (s *standIn) Members(ctx context.Context, t Target) ([]api.Member, error) {
	s.record("members " + t.Pod)
	if s.inner != nil {
		return s.inner.Members(ctx, t)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.extra)
	for pod := range s.left {
		state := cmp.Or(s.leftAs, "left")
		out = append(out, api.Member{Name: pod, State: state})
	}
	return out, nil
}
