package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/yzma/yzma/node/api"
)

// rejoinTimeout bounds one rejoin call; the node answers once it has
// started to rejoin, not once it has caught up.
const rejoinTimeout = 10 * time.Second

// rejoinLeftNodes asks every node the cluster should have that has left it
// to rejoin (POST /cluster/join without peers). A node records in its data
// file that it left and stays out, across restarts, until asked: this is
// how a node whose scale-down was reverted comes back. The leaving pod of a
// scale-down in progress, and the pods above it, are never asked. A node
// that is ready is a member, so only running pods that are not ready are
// asked whether they left. The step never fails the pass.
func (r *Reconciler) rejoinLeftNodes(ctx context.Context, p *pass) error {
	c := p.c
	limit := p.replicas
	if op := c.Status.ScaleDown; op != nil {
		limit = min(limit, op.Ordinal)
	}
	for o := range limit {
		name := podName(c, o)
		if pod := p.pods[name]; !podRunning(pod) || podReady(pod) {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, rejoinTimeout)
		err := r.rejoinIfLeft(cctx, p, name)
		cancel()
		if err != nil {
			r.event(c, corev1.EventTypeWarning, reasonRejoin, "Rejoin", "pod %s left the cluster and could not be asked to rejoin: %v", name, err)
			p.wantRequeue(pollInterval)
		}
	}
	return nil
}

// rejoinIfLeft asks pod name to rejoin if it reports that it left.
func (r *Reconciler) rejoinIfLeft(ctx context.Context, p *pass, name string) error {
	members, err := r.Nodes.Members(ctx, p.target(name))
	if err != nil {
		return nil // not answering: not known to have left
	}
	if !slices.ContainsFunc(members, func(m api.Member) bool { return m.Name == name && m.State == "left" }) {
		return nil
	}
	if err := r.Nodes.Rejoin(ctx, p.target(name)); err != nil {
		return fmt.Errorf("rejoin: %w", err)
	}
	r.event(p.c, corev1.EventTypeNormal, reasonRejoin, "Rejoin", "pod %s had left the cluster and is one of its %d nodes: asked it to rejoin", name, p.replicas)
	return nil
}
