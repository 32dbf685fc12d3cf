package controller

import (
	"context"
	"slices"
	"strings"

	"k8s.io/utils/ptr"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
	"github.com/yzma/yzma/node/api"
)

// refreshMembers records the membership as the lowest ready pod that
// answers reports it (the leaving pod excluded). When none answers the
// last known membership stays; the step never fails the pass.
func (r *Reconciler) refreshMembers(ctx context.Context, p *pass) error {
	c := p.c
	if p.sts == nil { // just created, not in the cache yet
		return nil
	}
	limit := ptr.Deref(p.sts.Spec.Replicas, 0)
	if op := c.Status.ScaleDown; op != nil {
		limit = min(limit, op.Ordinal)
	}
	members, _, ok := r.askMembers(ctx, p, limit)
	if !ok {
		return nil
	}
	c.Status.Members = memberStatus(members)
	c.Status.AliveMembers = 0
	for _, m := range c.Status.Members {
		if m.State == "alive" {
			c.Status.AliveMembers++
		}
	}
	clusterMembers.WithLabelValues(c.Namespace, c.Name).Set(float64(c.Status.AliveMembers))
	return nil
}

// askMembers returns the membership as the lowest ready pod with an
// ordinal below limit that answers reports it, and that pod's name; ok is
// false when none answers.
func (r *Reconciler) askMembers(ctx context.Context, p *pass, limit int32) (members []api.Member, from string, ok bool) {
	for _, name := range readyPods(p, limit) {
		mctx, cancel := context.WithTimeout(ctx, membersTimeout)
		ms, err := r.Nodes.Members(mctx, p.target(name))
		cancel()
		if err == nil {
			return ms, name, true
		}
	}
	return nil, "", false
}

// memberStatus converts a node's answer to the status form, sorted by name.
func memberStatus(members []api.Member) []yzmav1.Member {
	out := make([]yzmav1.Member, 0, len(members))
	for _, m := range members {
		out = append(out, yzmav1.Member{Name: m.Name, State: m.State, NodeID: m.NodeID, Address: m.Addr, Lag: m.Lag})
	}
	slices.SortFunc(out, func(a, b yzmav1.Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}
