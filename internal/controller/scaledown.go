package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

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
	if _, forcing := c.Annotations[yzmav1.AnnotationForceRemove]; !forcing {
		meta.RemoveStatusCondition(&c.Status.Conditions, yzmav1.ConditionForceRemoved)
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
		return r.revertScaleDown(p, desired)
	}
	if op.Phase != yzmav1.PhaseShrinking && c.Annotations[yzmav1.AnnotationForceRemove] == op.Pod {
		r.forceRemove(p)
		return op.Ordinal, nil
	}
	switch op.Phase {
	case yzmav1.PhaseLeaving:
		if r.stepLeave(ctx, p) {
			return op.Ordinal, nil
		}
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
// and any backoff has passed. It reports true when it found that the pod
// never became a member and moved on to shrinking without a leave.
func (r *Reconciler) stepLeave(ctx context.Context, p *pass) bool {
	c, op := p.c, p.c.Status.ScaleDown
	key := types.NamespacedName{Namespace: c.Namespace, Name: op.Pod}
	if call := r.leaves.take(key); call != nil {
		if !call.done {
			r.setScalingDown(c, true, reasonLeaving, "pod %s is handing its data off (attempt %d)", op.Pod, op.Attempts)
			p.wantRequeue(pollInterval)
			return false
		}
		leaveDuration.Observe(call.duration.Seconds())
		if call.err == nil {
			op.LastError = ""
			op.HandedOffTo = slices.Sorted(maps.Keys(call.result.Peers))
			r.setPhase(op, yzmav1.PhaseConfirming)
			r.event(c, corev1.EventTypeNormal, reasonLeaveSucceeded, "Leave",
				"pod %s handed its data off to %d peers and left the cluster", op.Pod, len(call.result.Peers))
			r.setScalingDown(c, true, reasonConfirming, "pod %s left; waiting for another member to confirm", op.Pod)
			p.wantRequeue(time.Millisecond)
			return false
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
				return false
			}
		}
	}
	pod := p.pods[op.Pod]
	if !podReady(pod) && r.neverAMember(ctx, p) {
		return true
	}
	if !podRunning(pod) {
		r.setScalingDown(c, false, reasonWaitingForPod,
			"pod %s is not running; it must run to hand its data off before it is removed", op.Pod)
		p.wantRequeue(pollInterval)
		return false
	}
	op.Attempts++
	now := metav1.NewTime(r.now())
	op.LastAttemptAt = &now
	leaveAttempts.Inc()
	r.leaves.start(c, r.Nodes, p.target(op.Pod))
	r.event(c, corev1.EventTypeNormal, reasonLeaveStarted, "Leave", "asking pod %s to leave the cluster (attempt %d)", op.Pod, op.Attempts)
	r.setScalingDown(c, true, reasonLeaving, "pod %s is handing its data off (attempt %d)", op.Pod, op.Attempts)
	p.wantRequeue(pollInterval)
	return false
}

// neverAMember reports whether the leaving pod, which is not ready, never
// became a member: the scale-down has waited NeverMemberTimeout for it, and
// neither the recorded membership nor any remaining ready member lists it
// other than as left (a node remembers every member it saw, alive or gone;
// "left" is an earlier node of the same name that handed its data off, or
// this one, whose leave then succeeded). Such a node took no writes (a node
// refuses writes until it is a caught-up member), so it is removed without
// a leave, with an event.
func (r *Reconciler) neverAMember(ctx context.Context, p *pass) bool {
	c, op := p.c, p.c.Status.ScaleDown
	if r.now().Sub(op.StartedAt.Time) < r.neverMemberTimeout {
		return false
	}
	if slices.ContainsFunc(c.Status.Members, func(m yzmav1.Member) bool { return m.Name == op.Pod && m.State != "left" }) {
		return false
	}
	asked := 0
	for _, name := range readyPods(p, op.Ordinal) {
		mctx, cancel := context.WithTimeout(ctx, membersTimeout)
		members, err := r.Nodes.Members(mctx, p.target(name))
		cancel()
		if err != nil {
			continue
		}
		asked++
		if slices.ContainsFunc(members, func(m api.Member) bool { return m.Name == op.Pod && m.State != "left" }) {
			return false
		}
	}
	if asked == 0 {
		return false
	}
	op.Reason = reasonNeverAMember
	r.setPhase(op, yzmav1.PhaseShrinking)
	scaleDownSteps.WithLabelValues("never_a_member").Inc()
	r.event(c, corev1.EventTypeNormal, reasonNeverAMember, "ScaleDown",
		"pod %s never became a member (none of %d members ever saw it) in %s; removing it without a leave",
		op.Pod, asked, r.neverMemberTimeout)
	r.setScalingDown(c, true, reasonShrinking, "pod %s never became a member; waiting for it to be removed", op.Pod)
	p.wantRequeue(pollInterval)
	return true
}

// forceRemove removes the leaving pod without a hand-off because the
// yzma.io/force-remove annotation names it.
func (r *Reconciler) forceRemove(p *pass) {
	c, op := p.c, p.c.Status.ScaleDown
	op.Reason = reasonForceRemoved
	r.setPhase(op, yzmav1.PhaseShrinking)
	scaleDownSteps.WithLabelValues("force_removed").Inc()
	r.event(c, corev1.EventTypeWarning, reasonForceRemoved, "ScaleDown",
		"removing pod %s without a hand-off as the %s annotation asks: writes acknowledged only by it may be lost",
		op.Pod, yzmav1.AnnotationForceRemove)
	setCondition(c, yzmav1.ConditionForceRemoved, true, reasonForceRemoved,
		"pod %s was removed without handing its data off (annotation %s): writes acknowledged only by that node may be lost; remove the annotation once done",
		op.Pod, yzmav1.AnnotationForceRemove)
	r.setScalingDown(c, true, reasonShrinking, "pod %s is force-removed; waiting for it to be removed", op.Pod)
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
	// A member the node proved it handed everything to may have missed the
	// leave announcement and see the node dead: that confirms too.
	handedOff := slices.Contains(op.HandedOffTo, name)
	if i < 0 || members[i].State == "left" || (handedOff && members[i].State == "dead") {
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
// above the leaving pod's ordinal. A node that left stays out of the
// cluster, even across restarts, until it is asked to rejoin: the rejoin
// step (rejoin.go) does so for every pod the cluster should have.
func (r *Reconciler) revertScaleDown(p *pass, desired int32) (int32, error) {
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
	scaleDownSteps.WithLabelValues("reverted").Inc()
	how := "it never left"
	if mayHaveLeft {
		how = "it is asked to rejoin the cluster"
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
