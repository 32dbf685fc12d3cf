package controller

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
	"github.com/yzma/yzma/node/api"
)

// setAnnotation sets (or, with value "", removes) an annotation of the
// YzmaCluster, as kubectl annotate does.
func setAnnotation(t *testing.T, c *yzmav1.YzmaCluster, key, value string) {
	t.Helper()
	for range 10 {
		cl := getCluster(t, c.Namespace, c.Name)
		if cl.Annotations == nil {
			cl.Annotations = map[string]string{}
		}
		if value == "" {
			delete(cl.Annotations, key)
		} else {
			cl.Annotations[key] = value
		}
		if err := k8s.Update(context.Background(), cl); err == nil {
			return
		}
	}
	t.Fatalf("could not set annotation %s", key)
}

// holdsFor fails the test if cond stops holding within d.
func holdsFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if !cond() {
			t.Fatalf("%s stopped holding", what)
		}
	}
}

// A pod that never started is not a member and cannot hand off: after
// NeverMemberTimeout the scale-down removes it without a leave, then goes
// on with the real members (3 → 5 → 3 with pod 4 never started).
func TestNeverStartedPodIsRemovedWithoutLeave(t *testing.T) {
	ns := newNamespace(t)
	// The members remember an earlier never-4 that left (a scale-down
	// before): that is no sign this one is a member.
	nodes := &standIn{extra: []api.Member{{Name: "never-4", State: "left"}}}
	startManagerWith(t, Options{Nodes: nodes, DefaultImage: "yzma:test", NeverMemberTimeout: 2 * time.Second})
	c := newCluster(t, ns, "never", 3)
	sim := startPodSim(t, c, false)
	waitFor(t, "3 ready pods", 20*time.Second, func() bool { return readyCount(t, c) == 3 })

	sim.setPending("never-4", true)
	setReplicas(t, c, 5)
	waitFor(t, "pod 4 created, never running", 20*time.Second, func() bool { return podCount(t, c) == 5 && readyCount(t, c) == 4 })

	setReplicas(t, c, 3)
	waitFor(t, "back to 3 pods and no scale-down", 30*time.Second, func() bool {
		return stsReplicas(t, c) == 3 && podCount(t, c) == 3 && getCluster(t, ns, c.Name).Status.ScaleDown == nil
	})
	if got := nodes.leaves(); !slices.Equal(got, []string{"never-3"}) {
		t.Errorf("leave calls %v, want only never-3 (never-4 was never a member)", got)
	}
	if ev := eventsWithReason(t, ns, reasonNeverAMember); len(ev) != 1 || ev[0].Type != corev1.EventTypeNormal {
		t.Errorf("NeverAMember events: %+v", ev)
	}
}

// A member that cannot hand off (a crash loop) blocks its scale-down until
// the user asks for its removal by annotation; then it goes, with a Warning
// event and the ForceRemoved condition, which clears with the annotation.
func TestCrashLoopingMemberNeedsForceRemove(t *testing.T) {
	ns := newNamespace(t)
	nodes := &standIn{extra: []api.Member{{Name: "crash-2", State: "dead"}}} // the members saw it
	nodes.setFailLeave(errors.New("connection refused"))
	startManagerWith(t, Options{Nodes: nodes, DefaultImage: "yzma:test", NeverMemberTimeout: time.Second})
	c := newCluster(t, ns, "crash", 3)
	sim := startPodSim(t, c, false)
	waitFor(t, "3 ready pods", 20*time.Second, func() bool { return readyCount(t, c) == 3 })

	sim.setUnready("crash-2", true)
	setReplicas(t, c, 2)
	waitFor(t, "LeaveFailed", 20*time.Second, func() bool {
		cond := condition(t, c, yzmav1.ConditionScalingDown)
		return cond != nil && cond.Reason == reasonLeaveFailed
	})
	holdsFor(t, "the member kept (no hand-off, no annotation)", 4*time.Second, func() bool {
		return stsReplicas(t, c) == 3 && podCount(t, c) == 3
	})

	setAnnotation(t, c, yzmav1.AnnotationForceRemove, "crash-2")
	waitFor(t, "the forced removal", 20*time.Second, func() bool {
		return stsReplicas(t, c) == 2 && podCount(t, c) == 2 && getCluster(t, ns, c.Name).Status.ScaleDown == nil
	})
	if ev := eventsWithReason(t, ns, reasonForceRemoved); len(ev) != 1 || ev[0].Type != corev1.EventTypeWarning {
		t.Errorf("ForceRemoved events: %+v", ev)
	}
	if cond := condition(t, c, yzmav1.ConditionForceRemoved); cond == nil || cond.Status != metav1.ConditionTrue {
		t.Errorf("ForceRemoved condition: %+v", cond)
	}
	setAnnotation(t, c, yzmav1.AnnotationForceRemove, "")
	waitFor(t, "the ForceRemoved condition cleared with the annotation", 20*time.Second, func() bool {
		return condition(t, c, yzmav1.ConditionForceRemoved) == nil
	})
}

// A leave whose announcement was lost leaves peers seeing the node dead:
// a member the node proved it handed everything to confirms it anyway;
// one it did not hand off to does not.
func TestLostLeaveAnnouncement(t *testing.T) {
	for _, tt := range []struct {
		name      string
		handOffTo []string
		confirms  bool
	}{
		{"handed off to the confirming member", []string{"lost-0", "lost-1"}, true},
		{"no proven hand-off", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ns := newNamespace(t)
			nodes := &standIn{leftAs: "dead", handOffTo: tt.handOffTo}
			startManager(t, nodes)
			c := newCluster(t, ns, "lost", 3)
			startPodSim(t, c, false)
			waitFor(t, "3 ready pods", 20*time.Second, func() bool { return readyCount(t, c) == 3 })

			setReplicas(t, c, 2)
			if !tt.confirms {
				waitFor(t, "phase Confirming", 20*time.Second, func() bool {
					sd := getCluster(t, ns, c.Name).Status.ScaleDown
					return sd != nil && sd.Phase == yzmav1.PhaseConfirming
				})
				holdsFor(t, "no shrink on a dead member without a proven hand-off", 4*time.Second, func() bool { return stsReplicas(t, c) == 3 })
				return
			}
			// Well within confirmTimeout: no second leave is needed.
			waitFor(t, "the scale-down done", 20*time.Second, func() bool {
				return stsReplicas(t, c) == 2 && podCount(t, c) == 2 && getCluster(t, ns, c.Name).Status.ScaleDown == nil
			})
			if got := nodes.leaves(); !slices.Equal(got, []string{"lost-2"}) {
				t.Errorf("leave calls %v, want one", got)
			}
		})
	}
}

// The pause annotation stops every change until it is removed.
func TestPauseStopsReconciling(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, &standIn{})
	c := newCluster(t, ns, "pause", 2)
	startPodSim(t, c, false)
	waitFor(t, "2 ready pods", 20*time.Second, func() bool { return readyCount(t, c) == 2 })

	setAnnotation(t, c, yzmav1.AnnotationPause, "true")
	waitFor(t, "Paused", 10*time.Second, func() bool {
		cl := getCluster(t, ns, c.Name)
		return cl.Status.Phase == yzmav1.ConditionPaused && meta.IsStatusConditionTrue(cl.Status.Conditions, yzmav1.ConditionPaused)
	})
	setReplicas(t, c, 3)
	holdsFor(t, "the StatefulSet untouched while paused", 3*time.Second, func() bool { return stsReplicas(t, c) == 2 })

	setAnnotation(t, c, yzmav1.AnnotationPause, "")
	waitFor(t, "scaled once resumed", 20*time.Second, func() bool {
		cl := getCluster(t, ns, c.Name)
		return stsReplicas(t, c) == 3 && meta.FindStatusCondition(cl.Status.Conditions, yzmav1.ConditionPaused) == nil
	})
}

// A template change during a scale-down is applied with the partition at
// the replica count and the long grace period. envtest runs no StatefulSet
// controller, so the StatefulSet has no revisions here and this checks the
// applied object only: that the hold decides the partition is shown by
// TestPlanRollout ("held by a scale-down") and, with the real controller,
// by the end-to-end journey (the leaving pod is never recreated).
func TestScaleDownHoldsTheRollout(t *testing.T) {
	ns := newNamespace(t)
	nodes := &standIn{}
	nodes.setLeftAs("alive") // confirmation waits
	startManager(t, nodes)
	c := newCluster(t, ns, "hold", 3)
	startPodSim(t, c, false)
	waitFor(t, "3 ready pods", 20*time.Second, func() bool { return readyCount(t, c) == 3 })

	setReplicas(t, c, 2)
	waitFor(t, "phase Confirming", 20*time.Second, func() bool {
		sd := getCluster(t, ns, c.Name).Status.ScaleDown
		return sd != nil && sd.Phase == yzmav1.PhaseConfirming
	})
	// Again on a conflict: the operator writes the status meanwhile.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cl := getCluster(t, ns, c.Name)
		cl.Spec.PodTemplate.Annotations = map[string]string{"example.com/changed": "yes"}
		return k8s.Update(context.Background(), cl)
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new template applied with the partition at 3", 20*time.Second, func() bool {
		sts := getStatefulSet(t, c)
		return sts != nil && sts.Spec.Template.Annotations["example.com/changed"] == "yes" &&
			ptr.Deref(sts.Spec.UpdateStrategy.RollingUpdate.Partition, -1) == 3
	})
	if sts := getStatefulSet(t, c); sts.Spec.Template.Spec.TerminationGracePeriodSeconds == nil ||
		*sts.Spec.Template.Spec.TerminationGracePeriodSeconds <= 60 {
		t.Errorf("grace period %v, want longer than the node's 60 s leave timeout", sts.Spec.Template.Spec.TerminationGracePeriodSeconds)
	}
}

// getStatefulSet reads the cluster's StatefulSet, nil if it is missing.
func getStatefulSet(t *testing.T, c *yzmav1.YzmaCluster) *appsv1.StatefulSet {
	t.Helper()
	var sts appsv1.StatefulSet
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(c), &sts); err != nil {
		return nil
	}
	return &sts
}
