package controller

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
	"github.com/yzma/yzma/node/api"
)

// planRollout chooses the StatefulSet's rolling-update partition
// (p.partition): the operator, not the StatefulSet controller, paces a
// rolling update. Pods are moved to the new revision one at a time from the
// highest ordinal down, and the next one only once the one above is on the
// new revision, ready and a caught-up member (a member other than it
// reports its replication lag as 0). The lag is asked only of the pod at
// the partition, before the partition moves past it: under writes a lag
// flickers, and a pod passed once stays passed while it is ready. While a
// scale-down runs or is still to come (spec.replicas below the count kept)
// nothing is moved: the partition is the replica count, so no pod that is
// about to leave is restarted, before or during its hand-off (between two
// steps of a scale-down no step is recorded, but one is due).
//
// A pod of an outdated revision that the rollout waits on and that has not
// been ready for StuckPodTimeout is restarted: the StatefulSet controller
// waits for such a pod forever, so a rollout stuck on a bad image would not
// recover once the image is fixed.
func (r *Reconciler) planRollout(ctx context.Context, p *pass) error {
	c := p.c
	p.partition = p.replicas
	c.Status.Rollout = nil
	if p.sts == nil {
		return nil
	}
	st := p.sts.Status
	if op := c.Status.ScaleDown; op != nil || replicas(c) < p.replicas {
		if st.UpdateRevision != "" && outdatedPods(p, st.UpdateRevision) {
			leaving := podName(c, p.replicas-1)
			if op != nil {
				leaving = op.Pod
			}
			c.Status.Rollout = &yzmav1.Rollout{Revision: st.UpdateRevision, Partition: p.partition, Pod: leaving,
				Message: fmt.Sprintf("held while pod %s leaves the cluster", leaving)}
		}
		return nil
	}
	current := p.replicas
	if ru := p.sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		current = min(*ru.Partition, p.replicas)
	}
	if st.ObservedGeneration < p.sts.Generation || st.UpdateRevision == "" {
		// The StatefulSet controller has not caught up with the last
		// change: keep the partition as it is until it has.
		p.partition = current
		p.wantRequeue(pollInterval)
		return nil
	}
	if !outdatedPods(p, st.UpdateRevision) {
		return nil
	}
	views := map[string][]api.Member{}
	for o := p.replicas - 1; o >= 0; o-- {
		name := podName(c, o)
		pod := p.pods[name]
		waiting := waitingFor(pod, st.UpdateRevision)
		if waiting == "" && o > current {
			continue // passed already, caught up then: its lag is not asked again
		}
		if waiting == "" {
			lag, ok := r.lagOf(ctx, p, name, views)
			switch {
			case !ok:
				waiting = "no other member reports it alive yet"
			case lag != 0:
				waiting = fmt.Sprintf("it is %d operations behind", lag)
			default:
				continue
			}
		}
		p.partition = o
		c.Status.Rollout = &yzmav1.Rollout{Revision: st.UpdateRevision, Partition: o, Pod: name,
			Message: fmt.Sprintf("waiting for pod %s: %s", name, waiting)}
		p.wantRequeue(pollInterval)
		return r.restartIfStuck(ctx, p, pod, st.UpdateRevision)
	}
	return nil
}

// outdatedPods reports whether a pod of the cluster is not on revision.
func outdatedPods(p *pass, revision string) bool {
	for o := range p.replicas {
		if pod := p.pods[podName(p.c, o)]; pod != nil && podRevision(pod) != revision {
			return true
		}
	}
	return false
}

func podRevision(pod *corev1.Pod) string { return pod.Labels[appsv1.StatefulSetRevisionLabel] }

// waitingFor says why pod is not yet through the rollout to revision, or
// "" when it is on it and ready (the lag is checked apart).
func waitingFor(pod *corev1.Pod, revision string) string {
	switch {
	case pod == nil:
		return "it does not exist yet"
	case podRevision(pod) != revision:
		return "it is not on the new revision yet"
	case !podReady(pod):
		return "it is not ready"
	}
	return ""
}

// lagOf returns pod name's replication lag as the lowest other ready
// member reports it, and false when none reports it alive; views caches
// the answers for one pass.
func (r *Reconciler) lagOf(ctx context.Context, p *pass, name string, views map[string][]api.Member) (int64, bool) {
	for _, from := range readyPods(p, p.replicas) {
		if from == name {
			continue
		}
		members, ok := views[from]
		if !ok {
			mctx, cancel := context.WithTimeout(ctx, membersTimeout)
			ms, err := r.Nodes.Members(mctx, p.target(from))
			cancel()
			if err != nil {
				continue
			}
			views[from], members = ms, ms
		}
		for _, m := range members {
			if m.Name == name && m.State == "alive" && m.Lag >= 0 {
				return m.Lag, true
			}
		}
		return 0, false
	}
	return 0, false
}

// restartIfStuck deletes pod (the StatefulSet recreates it on the current
// revision) when it is on an outdated revision and has not been ready for
// StuckPodTimeout. The pod holds no data that its claim does not keep, and
// a node that was not ready took no writes.
func (r *Reconciler) restartIfStuck(ctx context.Context, p *pass, pod *corev1.Pod, revision string) error {
	if pod == nil || pod.DeletionTimestamp != nil || podRevision(pod) == revision || podReady(pod) {
		return nil
	}
	if unready := r.now().Sub(unreadySince(pod)); unready < r.stuckPodTimeout {
		p.wantRequeue(r.stuckPodTimeout - unready)
		return nil
	}
	if err := r.Delete(ctx, pod, &client.Preconditions{UID: &pod.UID}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("restart stuck pod %s: %w", pod.Name, err)
	}
	r.event(p.c, corev1.EventTypeWarning, reasonStuckPod, "Rollout",
		"pod %s of outdated revision %s was not ready for %s: restarted on revision %s",
		pod.Name, podRevision(pod), r.stuckPodTimeout, revision)
	return nil
}

// unreadySince is when pod last became unready, or its creation.
func unreadySince(pod *corev1.Pod) time.Time {
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady && !cond.LastTransitionTime.IsZero() {
			return cond.LastTransitionTime.Time
		}
	}
	return pod.CreationTimestamp.Time
}
