package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"sigs.k8s.io/controller-runtime/pkg/client"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
	"github.com/yzma/yzma/node/api"
)

// Timing of the scale-down steps.
const (
	pollInterval      = 2 * time.Second  // while waiting on a pod or a call
	confirmTimeout    = 30 * time.Second // then leave is called again
	membersTimeout    = 5 * time.Second  // one GET /cluster/members
	firstLeaveBackoff = 5 * time.Second  // doubles per failed attempt
	maxLeaveBackoff   = 2 * time.Minute
)

// reconcileScaleDown advances the recorded scale-down step and sets the
// replica count the StatefulSet must have (p.replicas).
func (r *Reconciler) reconcileScaleDown(ctx context.Context, p *pass) error {
	n, err := r.scaleDown(ctx, p)
	p.replicas = n
	return err
}

// scaleDown advances the recorded scale-down step and returns the replica
// count the StatefulSet must have. Nothing shrinks unless the leaving node
// handed its data off and another member confirmed it left; pods that are
// missing or not ready never count as removed.
func (r *Reconciler) scaleDown(ctx context.Context, p *pass) (int32, error) {
	c := p.c
	desired := replicas(c)
	if p.sts == nil {
		return desired, nil
	}
	op := c.Status.ScaleDown
	if op == nil {
		current := ptr.Deref(p.sts.Spec.Replicas, desired)
		if desired >= current {
			r.setScalingDown(c, false, reasonIdle, "no scale-down in progress")
			return desired, nil
		}
		ordinal := current - 1
		now := metav1.NewTime(r.now())
		op = &yzmav1.ScaleDown{Pod: podName(c, ordinal), Ordinal: ordinal, Phase: yzmav1.PhaseLeaving, StartedAt: now, PhaseSince: now}
		c.Status.ScaleDown = op
		scaleDownSteps.WithLabelValues("started").Inc()
		r.event(c, corev1.EventTypeNormal, reasonScaleDownStart, "ScaleDown",
			"scaling down from %d to %d nodes: pod %s hands its data off and leaves first", current, desired, op.Pod)
	}
	if desired > op.Ordinal {
		return r.revertScaleDown(ctx, p, desired)
	}
	switch op.Phase {
	case yzmav1.PhaseLeaving:
		r.stepLeave(p)
		return op.Ordinal + 1, nil
	case yzmav1.PhaseConfirming:
		if r.stepConfirm(ctx, p) {
			return op.Ordinal, nil
		}
		return op.Ordinal + 1, nil
	case yzmav1.PhaseShrinking:
		r.stepShrink(p)
		return op.Ordinal, nil
	default:
		return 0, fmt.Errorf("scale-down of %s: unknown phase %q", op.Pod, op.Phase)
	}
}

// stepLeave collects a finished leave call, or starts one when the pod runs
// and any backoff has passed.
func (r *Reconciler) stepLeave(p *pass) {
	c, op := p.c, p.c.Status.ScaleDown
	key := types.NamespacedName{Namespace: c.Namespace, Name: op.Pod}
	if call := r.leaves.take(key); call != nil {
		if !call.done {
			r.setScalingDown(c, true, reasonLeaving, "pod %s is handing its data off (attempt %d)", op.Pod, op.Attempts)
			p.wantRequeue(pollInterval)
			return
		}
		leaveDuration.Observe(call.duration.Seconds())
		if call.err == nil {
			op.LastError = ""
			r.setPhase(op, yzmav1.PhaseConfirming)
			r.event(c, corev1.EventTypeNormal, reasonLeaveSucceeded, "Leave",
				"pod %s handed its data off to %d peers and left the cluster", op.Pod, len(call.result.Peers))
			r.setScalingDown(c, true, reasonConfirming, "pod %s left; waiting for another member to confirm", op.Pod)
			p.wantRequeue(time.Millisecond)
			return
		}
		leaveFailures.Inc()
		op.LastError = call.err.Error()
		r.event(c, corev1.EventTypeWarning, reasonLeaveFailed, "Leave",
			"leave of pod %s failed (attempt %d), nothing was shrunk; retrying in %s: %v", op.Pod, op.Attempts, leaveBackoff(op.Attempts), call.err)
	}
	if op.LastError != "" {
		r.setScalingDown(c, false, reasonLeaveFailed, "leave of pod %s failed (attempt %d): %s", op.Pod, op.Attempts, op.LastError)
		if op.LastAttemptAt != nil {
			if wait := op.LastAttemptAt.Add(leaveBackoff(op.Attempts)).Sub(r.now()); wait > 0 {
				p.wantRequeue(wait)
				return
			}
		}
	}
	pod := p.pods[op.Pod]
	if !podRunning(pod) {
		r.setScalingDown(c, false, reasonWaitingForPod,
			"pod %s is not running; it must run to hand its data off before it is removed", op.Pod)
		p.wantRequeue(pollInterval)
		return
	}
	op.Attempts++
	now := metav1.NewTime(r.now())
	op.LastAttemptAt = &now
	leaveAttempts.Inc()
	r.leaves.start(c, r.Nodes, p.target(op.Pod))
	r.event(c, corev1.EventTypeNormal, reasonLeaveStarted, "Leave", "asking pod %s to leave the cluster (attempt %d)", op.Pod, op.Attempts)
	r.setScalingDown(c, true, reasonLeaving, "pod %s is handing its data off (attempt %d)", op.Pod, op.Attempts)
	p.wantRequeue(pollInterval)
}

// stepConfirm asks the remaining ready members whether the node has left;
// it reports true, and moves on to shrinking, once one says so.
func (r *Reconciler) stepConfirm(ctx context.Context, p *pass) bool {
	c, op := p.c, p.c.Status.ScaleDown
	members, name, ok := r.askMembers(ctx, p, op.Ordinal)
	if !ok {
		r.setScalingDown(c, false, reasonNoConfirmation, "no remaining ready member answered to confirm that pod %s left", op.Pod)
		p.wantRequeue(pollInterval)
		return false
	}
	i := slices.IndexFunc(members, func(m api.Member) bool { return m.Name == op.Pod })
	if i < 0 || members[i].State == "left" {
		r.setPhase(op, yzmav1.PhaseShrinking)
		r.event(c, corev1.EventTypeNormal, reasonLeaveConfirmed, "ScaleDown",
			"member %s confirms pod %s left; shrinking the StatefulSet to %d", name, op.Pod, op.Ordinal)
		r.setScalingDown(c, true, reasonShrinking, "pod %s left; waiting for it to be removed", op.Pod)
		p.wantRequeue(pollInterval)
		return true
	}
	// Still a member: after a while, leave again (the node may have
	// restarted and rejoined; leave is idempotent).
	if r.now().Sub(op.PhaseSince.Time) > confirmTimeout {
		r.setPhase(op, yzmav1.PhaseLeaving)
		p.wantRequeue(time.Millisecond)
		return false
	}
	r.setScalingDown(c, true, reasonConfirming, "member %s still lists pod %s as %s", name, op.Pod, members[i].State)
	p.wantRequeue(pollInterval)
	return false
}

// stepShrink waits until the StatefulSet controller has removed the pod;
// the volume policy applies from then on.
func (r *Reconciler) stepShrink(p *pass) {
	c, op := p.c, p.c.Status.ScaleDown
	if p.pods[op.Pod] != nil {
		p.wantRequeue(pollInterval)
		return
	}
	scaleDownSteps.WithLabelValues("completed").Inc()
	r.event(c, corev1.EventTypeNormal, reasonScaleDownStep, "ScaleDown", "pod %s left and was removed; %d nodes remain", op.Pod, op.Ordinal)
	c.Status.ScaleDown = nil
	r.setScalingDown(c, false, reasonIdle, "no scale-down in progress")
	if replicas(c) < op.Ordinal {
		p.wantRequeue(time.Millisecond)
	}
}

// revertScaleDown ends the step in progress because replicas were raised
// above the leaving pod's ordinal. A node that may have left is restarted
// (its pod deleted; the StatefulSet recreates it), so it rejoins with its
// data instead of staying out of the cluster.
func (r *Reconciler) revertScaleDown(ctx context.Context, p *pass, desired int32) (int32, error) {
	c, op := p.c, p.c.Status.ScaleDown
	mayHaveLeft := op.Phase != yzmav1.PhaseLeaving
	if op.Phase == yzmav1.PhaseLeaving {
		call := r.leaves.take(types.NamespacedName{Namespace: c.Namespace, Name: op.Pod})
		switch {
		case call != nil && !call.done:
			p.wantRequeue(pollInterval) // let the call end first
			return op.Ordinal + 1, nil
		case call != nil:
			mayHaveLeft = call.err == nil
		default:
			// No call known to this manager: one made before a restart
			// may have succeeded.
			mayHaveLeft = op.Attempts > 0 && op.LastError == ""
		}
	}
	if pod := p.pods[op.Pod]; mayHaveLeft && pod != nil && pod.DeletionTimestamp == nil {
		if err := r.Delete(ctx, pod, &client.Preconditions{UID: &pod.UID}); err != nil && !apierrors.IsNotFound(err) {
			return op.Ordinal + 1, fmt.Errorf("restart pod %s after reverting its scale-down: %w", op.Pod, err)
		}
	}
	scaleDownSteps.WithLabelValues("reverted").Inc()
	how := "it never left"
	if mayHaveLeft {
		how = "it restarts to rejoin the cluster"
	}
	r.event(c, corev1.EventTypeNormal, reasonScaleDownRevert, "ScaleDown",
		"replicas raised to %d while pod %s was leaving (phase %s); it stays a member: %s", desired, op.Pod, op.Phase, how)
	c.Status.ScaleDown = nil
	r.setScalingDown(c, false, reasonIdle, "no scale-down in progress")
	return desired, nil
}

func (r *Reconciler) setPhase(op *yzmav1.ScaleDown, phase yzmav1.ScaleDownPhase) {
	op.Phase = phase
	op.PhaseSince = metav1.NewTime(r.now())
}

func (r *Reconciler) setScalingDown(c *yzmav1.YzmaCluster, running bool, reason, format string, args ...any) {
	setCondition(c, yzmav1.ConditionScalingDown, running, reason, format, args...)
}

// leaveBackoff is the wait after the given number of attempts failed.
func leaveBackoff(attempts int32) time.Duration {
	d := firstLeaveBackoff
	for i := int32(1); i < attempts && d < maxLeaveBackoff; i++ {
		d *= 2
	}
	return min(d, maxLeaveBackoff)
}
