package controller

import (
	"errors"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// setStatus fills the observed part of c's status from the StatefulSet
// (nil before it exists), the node image the pass applied it with (empty
// if it did not get that far: the recorded image stays) and the pass's
// error. observedGeneration moves only after a pass without error and
// without a failed leave.
func setStatus(c *yzmav1.YzmaCluster, sts *appsv1.StatefulSet, image string, passErr error) {
	st := &c.Status
	if image != "" {
		st.Image = image
	}
	st.Selector = selectorString(c)
	desired := replicas(c)
	if sts != nil {
		st.Replicas = sts.Status.Replicas
		st.ReadyReplicas = sts.Status.ReadyReplicas
	}
	if st.ReadyReplicas > 0 {
		setCondition(c, yzmav1.ConditionAvailable, true, reasonNodesReady, "%d of %d nodes ready", st.ReadyReplicas, desired)
	} else {
		setCondition(c, yzmav1.ConditionAvailable, false, reasonNoNodeReady, "no node is ready")
	}

	switch {
	case st.ScaleDown != nil:
		setCondition(c, yzmav1.ConditionProgressing, true, reasonShrinking, "scaling down: pod %s is %s", st.ScaleDown.Pod, st.ScaleDown.Phase)
	case sts == nil || sts.Status.ObservedGeneration < sts.Generation || sts.Status.UpdatedReplicas < st.Replicas ||
		sts.Status.UpdateRevision != sts.Status.CurrentRevision:
		setCondition(c, yzmav1.ConditionProgressing, true, reasonRollingOut, "rolling out the node pods")
	case st.Replicas < desired || st.ReadyReplicas < desired:
		setCondition(c, yzmav1.ConditionProgressing, true, reasonScalingUp, "%d of %d nodes ready", st.ReadyReplicas, desired)
	default:
		setCondition(c, yzmav1.ConditionProgressing, false, reasonStable, "all %d nodes ready and up to date", desired)
	}

	switch {
	case passErr == nil && (st.ScaleDown == nil || st.ScaleDown.LastError == ""):
		setCondition(c, yzmav1.ConditionDegraded, false, reasonAsExpected, "reconciled")
		st.ObservedGeneration = c.Generation
	case passErr == nil:
		setCondition(c, yzmav1.ConditionDegraded, true, reasonLeaveFailed, "leave of pod %s failed: %s", st.ScaleDown.Pod, st.ScaleDown.LastError)
	case errors.Is(passErr, ErrSecret):
		setCondition(c, yzmav1.ConditionDegraded, true, reasonSecretProblem, "%v", passErr)
	default:
		setCondition(c, yzmav1.ConditionDegraded, true, reasonReconcileError, "%v", passErr)
	}
	st.Phase = phase(st)
}

// phase summarises the conditions for the Status printer column.
func phase(st *yzmav1.YzmaClusterStatus) string {
	switch {
	case meta.IsStatusConditionTrue(st.Conditions, yzmav1.ConditionDegraded):
		return yzmav1.ConditionDegraded
	case st.ScaleDown != nil:
		return yzmav1.ConditionScalingDown
	case meta.IsStatusConditionTrue(st.Conditions, yzmav1.ConditionProgressing):
		return yzmav1.ConditionProgressing
	case meta.IsStatusConditionTrue(st.Conditions, yzmav1.ConditionAvailable):
		return yzmav1.ConditionAvailable
	default:
		return "Pending"
	}
}
