package controller

import (
	"cmp"
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
	"github.com/yzma/yzma/node/api"
)

// rolloutPod is a running pod of the "roll" cluster on revision rev.
func rolloutPod(o int32, rev string, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: podName(cluster(), o), Labels: map[string]string{appsv1.StatefulSetRevisionLabel: rev}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			PodIP:      "127.0.0.1",
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}},
		},
	}
}

// The rollout step moves the partition one caught-up pod at a time, from
// the top, and never during a scale-down.
func TestPlanRollout(t *testing.T) {
	c := cluster()
	name := func(o int32) string { return podName(c, o) }
	for _, tt := range []struct {
		name      string
		pods      []*corev1.Pod
		lag       int64 // of pod 2, as the other members report it
		scaleDown bool
		want      int32 // spec.replicas when not 0: below 3, a scale-down is due
		stale     bool  // the StatefulSet controller has not seen the last change
		current   int32 // the StatefulSet's partition before; 0: 3
		partition int32
		waitsOn   string // in the status's message; "" for no rollout
	}{
		{name: "all on the new revision", pods: []*corev1.Pod{rolloutPod(0, "new", true), rolloutPod(1, "new", true), rolloutPod(2, "new", true)}, partition: 3},
		{name: "a new revision: the top pod first", pods: []*corev1.Pod{rolloutPod(0, "old", true), rolloutPod(1, "old", true), rolloutPod(2, "old", true)}, partition: 2, waitsOn: "not on the new revision"},
		{name: "top pod updated but not ready", pods: []*corev1.Pod{rolloutPod(0, "old", true), rolloutPod(1, "old", true), rolloutPod(2, "new", false)}, partition: 2, waitsOn: "not ready"},
		{name: "top pod ready but behind", pods: []*corev1.Pod{rolloutPod(0, "old", true), rolloutPod(1, "old", true), rolloutPod(2, "new", true)}, lag: 7, partition: 2, waitsOn: "7 operations behind"},
		{name: "top pod caught up: the next one", pods: []*corev1.Pod{rolloutPod(0, "old", true), rolloutPod(1, "old", true), rolloutPod(2, "new", true)}, partition: 1, waitsOn: name(1)},
		{name: "a pod passed is not asked its lag again", pods: []*corev1.Pod{rolloutPod(0, "old", true), rolloutPod(1, "new", false), rolloutPod(2, "new", true)}, lag: 3, current: 1, partition: 1, waitsOn: "pod " + name(1) + ": it is not ready"},
		{name: "a pod passed that went down holds the rollout", pods: []*corev1.Pod{rolloutPod(0, "old", true), rolloutPod(1, "new", true), rolloutPod(2, "new", false)}, current: 1, partition: 2, waitsOn: "pod " + name(2) + ": it is not ready"},
		{name: "top pod missing", pods: []*corev1.Pod{rolloutPod(0, "old", true), rolloutPod(1, "old", true)}, partition: 2, waitsOn: "does not exist"},
		{name: "held by a scale-down", pods: []*corev1.Pod{rolloutPod(0, "old", true), rolloutPod(1, "old", true), rolloutPod(2, "old", true)}, scaleDown: true, partition: 3, waitsOn: "held while"},
		{name: "held between two scale-down steps", pods: []*corev1.Pod{rolloutPod(0, "old", true), rolloutPod(1, "old", true), rolloutPod(2, "old", true)}, want: 2, partition: 3, waitsOn: "held while pod " + name(2)},
		{name: "the StatefulSet controller lags: partition kept", pods: []*corev1.Pod{rolloutPod(0, "old", true), rolloutPod(1, "old", true), rolloutPod(2, "old", true)}, stale: true, current: 1, partition: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nodes := &standIn{extra: []api.Member{{Name: name(2), State: "alive", Lag: tt.lag}, {Name: name(1), State: "alive"}}}
			r := &Reconciler{Nodes: nodes, now: time.Now, stuckPodTimeout: time.Hour}
			c := cluster()
			if tt.want != 0 {
				c.Spec.Replicas = ptr.To(tt.want)
			}
			if tt.scaleDown {
				c.Status.ScaleDown = &yzmav1.ScaleDown{Pod: name(3), Ordinal: 3, Phase: yzmav1.PhaseConfirming}
			}
			sts := statefulSet(c, 3, cmp.Or(tt.current, 3), podSettings{})
			sts.Generation = 2
			sts.Status = appsv1.StatefulSetStatus{ObservedGeneration: 2, UpdateRevision: "new", CurrentRevision: "old"}
			if tt.stale {
				sts.Status.ObservedGeneration = 1
			}
			p := &pass{c: c, sts: sts, replicas: 3, pods: map[string]*corev1.Pod{}}
			for _, pod := range tt.pods {
				p.pods[pod.Name] = pod
			}
			if err := r.planRollout(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			if p.partition != tt.partition {
				t.Errorf("partition %d, want %d", p.partition, tt.partition)
			}
			ro := c.Status.Rollout
			switch {
			case tt.waitsOn == "" && ro != nil:
				t.Errorf("rollout status %+v, want none", ro)
			case tt.waitsOn != "" && (ro == nil || !strings.Contains(ro.Message, tt.waitsOn)):
				t.Errorf("rollout status %+v, want a message with %q", ro, tt.waitsOn)
			}
			if got := ptr.Deref(statefulSet(c, p.replicas, p.partition, podSettings{}).Spec.UpdateStrategy.RollingUpdate.Partition, -1); got != tt.partition {
				t.Errorf("built StatefulSet's partition %d", got)
			}
		})
	}
}
