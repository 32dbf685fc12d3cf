package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
	nodeclient "github.com/yzma/yzma/node/client"
)

// setReplicas changes spec.replicas, as kubectl scale does.
func setReplicas(t *testing.T, c *yzmav1.YzmaCluster, n int32) {
	t.Helper()
	for range 10 {
		cl := getCluster(t, c.Namespace, c.Name)
		cl.Spec.Replicas = ptr.To(n)
		err := k8s.Update(context.Background(), cl)
		if err == nil {
			return
		}
		t.Logf("set replicas: %v", err)
	}
	t.Fatalf("could not set replicas to %d", n)
}

// stsReplicas reads the StatefulSet's spec.replicas (-1 if missing).
func stsReplicas(t *testing.T, c *yzmav1.YzmaCluster) int32 {
	sts := getStatefulSet(t, c)
	if sts == nil {
		return -1
	}
	return *sts.Spec.Replicas
}

// watchReplicas records every StatefulSet replica change into s's trail,
// as "replicas N", until the test ends.
func watchReplicas(t *testing.T, c *yzmav1.YzmaCluster, s *standIn) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		last := int32(-1)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if n := stsReplicas(t, c); n != last && n >= 0 {
				s.record(fmt.Sprintf("replicas %d", n))
				last = n
			}
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait() })
}

func condition(t *testing.T, c *yzmav1.YzmaCluster, typ string) *metav1.Condition {
	return meta.FindStatusCondition(getCluster(t, c.Namespace, c.Name).Status.Conditions, typ)
}

func TestScaleDownLeavesBeforeEachShrinkWithRealNodes(t *testing.T) {
	ns := newNamespace(t)
	direct, err := NewHTTPNodeClient(PodAccessDirect, nil)
	if err != nil {
		t.Fatal(err)
	}
	nodes := &standIn{inner: direct}
	startManager(t, nodes)
	c := newCluster(t, ns, "real", 5, func(c *yzmav1.YzmaCluster) {
		c.Spec.Ports = yzmav1.Ports{HTTP: simHTTPPort, Gossip: simGossipPort}
		// The simulated pods run the nodes without the pod's Secrets, over
		// plain HTTP with an open API.
		c.Spec.TLS.Enabled, c.Spec.Auth.Enabled = ptr.To(false), ptr.To(false)
	})
	sim := startPodSim(t, c, true)
	watchReplicas(t, c, nodes)
	waitFor(t, "5 ready nodes, 5 alive members", 90*time.Second, func() bool {
		cl := getCluster(t, ns, c.Name)
		return cl.Status.AliveMembers == 5 && readyCount(t, c) == 5
	})

	// Writes on every node, including those about to leave.
	ctx := testCtx(t)
	var keys []string
	for o := range int32(5) {
		cl, err := nodeclient.New(sim.url(o))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 40 {
			key := fmt.Sprintf("k-%d-%d", o, i)
			if _, err := cl.Put(ctx, key, []byte(key), "text/plain"); err != nil {
				t.Fatalf("put %s on pod %d: %v", key, o, err)
			}
			keys = append(keys, key)
		}
	}

	setReplicas(t, c, 2)
	waitFor(t, "the scale-down to 2 to finish", 120*time.Second, func() bool {
		cl := getCluster(t, ns, c.Name)
		return cl.Status.ScaleDown == nil && stsReplicas(t, c) == 2 && podCount(t, c) == 2
	})

	if got, want := slices.Compact(nodes.leaves()), []string{"real-4", "real-3", "real-2"}; !slices.Equal(got, want) {
		t.Errorf("leave called on %v, want %v", got, want)
	}
	// Each shrink comes after the leave of the pod it removes succeeded.
	trail := nodes.trail()
	for _, step := range []struct {
		pod      string
		replicas int
	}{{"real-4", 4}, {"real-3", 3}, {"real-2", 2}} {
		left := slices.Index(trail, "left "+step.pod)
		shrunk := slices.Index(trail, fmt.Sprintf("replicas %d", step.replicas))
		if left < 0 || shrunk < 0 || shrunk < left {
			t.Errorf("%s: leave succeeded at %d, StatefulSet lowered to %d at %d; trail %v", step.pod, left, step.replicas, shrunk, filterTrail(trail))
		}
	}
	if got, want := filterTrail(trail), []string{"replicas 5", "left real-4", "replicas 4", "left real-3", "replicas 3", "left real-2", "replicas 2"}; !slices.Equal(got, want) {
		t.Errorf("trail %v, want %v", got, want)
	}

	// The survivors hold every write, including those made on leavers.
	for o := range int32(2) {
		cl, err := nodeclient.New(sim.url(o))
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range keys {
			v, err := cl.Get(ctx, key)
			if err != nil || string(v.Data) != key {
				t.Fatalf("pod %d, key %s: %q, %v", o, key, v.Data, err)
			}
		}
	}
	// Events are written in the background.
	waitFor(t, "3 "+reasonScaleDownStep+" events", 10*time.Second, func() bool {
		return len(eventsWithReason(t, ns, reasonScaleDownStep)) == 3
	})
}

// filterTrail keeps successful leaves and replica changes.
func filterTrail(trail []string) []string {
	var out []string
	for _, s := range trail {
		if strings.HasPrefix(s, "left ") || strings.HasPrefix(s, "replicas ") {
			out = append(out, s)
		}
	}
	return slices.Compact(out)
}

func readyCount(t *testing.T, c *yzmav1.YzmaCluster) int {
	n := 0
	for _, p := range listPods(t, c) {
		if podReady(&p) {
			n++
		}
	}
	return n
}

func podCount(t *testing.T, c *yzmav1.YzmaCluster) int { return len(listPods(t, c)) }

func listPods(t *testing.T, c *yzmav1.YzmaCluster) []corev1.Pod {
	var pods corev1.PodList
	if err := k8s.List(context.Background(), &pods, client.InNamespace(c.Namespace), client.MatchingLabels(selectorLabels(c))); err != nil {
		t.Fatalf("list pods: %v", err)
	}
	return pods.Items
}

func TestFailedLeaveBlocksTheShrink(t *testing.T) {
	ns := newNamespace(t)
	nodes := &standIn{}
	nodes.setFailLeave(errors.New("server answered 503: peers unreachable"))
	startManager(t, nodes)
	c := newCluster(t, ns, "fail", 3)
	startPodSim(t, c, false)
	waitFor(t, "3 ready pods", 20*time.Second, func() bool { return readyCount(t, c) == 3 })

	setReplicas(t, c, 2)
	waitFor(t, "ScalingDown=False LeaveFailed", 20*time.Second, func() bool {
		cond := condition(t, c, yzmav1.ConditionScalingDown)
		return cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == reasonLeaveFailed
	})
	waitFor(t, "a LeaveFailed Warning event", 10*time.Second, func() bool {
		warn := eventsWithReason(t, ns, reasonLeaveFailed)
		return len(warn) > 0 && warn[0].Type == corev1.EventTypeWarning
	})
	cl := getCluster(t, ns, c.Name)
	if n := stsReplicas(t, c); n != 3 || podCount(t, c) != 3 {
		t.Errorf("after a failed leave: StatefulSet %d, %d pods; want 3 and 3", n, podCount(t, c))
	}
	if got := phaseSeries(t, ns); len(got) != 1 || got[0] != "fail/fail-2/Leaving" {
		t.Errorf("scale-down phase series %v, want fail/fail-2/Leaving", got)
	}
	if !meta.IsStatusConditionTrue(cl.Status.Conditions, yzmav1.ConditionDegraded) || cl.Status.Phase != yzmav1.ConditionDegraded ||
		cl.Status.ScaleDown == nil || cl.Status.ScaleDown.Pod != "fail-2" || cl.Status.ScaleDown.LastError == "" {
		t.Errorf("status after a failed leave: %+v", cl.Status)
	}

	// Retried with backoff; once the node can hand off, the shrink happens.
	nodes.setFailLeave(nil)
	waitFor(t, "the scale-down to finish after the retry", 30*time.Second, func() bool {
		return stsReplicas(t, c) == 2 && getCluster(t, ns, c.Name).Status.ScaleDown == nil
	})
	if n := len(nodes.leaves()); n < 2 {
		t.Errorf("%d leave calls, want a retry", n)
	}
	for name, c := range map[string]prometheus.Collector{"leave attempts": leaveAttempts, "leave failures": leaveFailures, "leave duration": leaveDuration} {
		if testutil.CollectAndCount(c) == 0 {
			t.Errorf("%s metric not exported", name)
		}
	}
	if testutil.ToFloat64(leaveFailures) < 1 || testutil.ToFloat64(leaveAttempts) < 2 {
		t.Errorf("metrics: %v leave attempts, %v failures", testutil.ToFloat64(leaveAttempts), testutil.ToFloat64(leaveFailures))
	}
	waitFor(t, "Degraded cleared", 10*time.Second, func() bool {
		return meta.IsStatusConditionFalse(getCluster(t, ns, c.Name).Status.Conditions, yzmav1.ConditionDegraded)
	})
	waitFor(t, "no scale-down phase series once done", 10*time.Second, func() bool { return len(phaseSeries(t, ns)) == 0 })
}

// phaseSeries lists the yzma_operator_scaledown_phase_started_timestamp_seconds
// series of namespace ns as "name/pod/phase".
func phaseSeries(t *testing.T, ns string) []string {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		if f.GetName() != "yzma_operator_scaledown_phase_started_timestamp_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["namespace"] == ns {
				out = append(out, l["name"]+"/"+l["pod"]+"/"+l["phase"])
			}
		}
	}
	return out
}

func TestManagerRestartResumesTheScaleDown(t *testing.T) {
	ns := newNamespace(t)
	nodes := &standIn{}
	nodes.setLeftAs("alive") // the members keep listing the leaver: confirmation waits
	first := startManager(t, nodes)
	c := newCluster(t, ns, "resume", 3)
	startPodSim(t, c, false)
	waitFor(t, "3 ready pods", 20*time.Second, func() bool { return readyCount(t, c) == 3 })

	setReplicas(t, c, 1)
	waitFor(t, "phase Confirming recorded", 20*time.Second, func() bool {
		sd := getCluster(t, ns, c.Name).Status.ScaleDown
		return sd != nil && sd.Phase == yzmav1.PhaseConfirming && sd.Pod == "resume-2"
	})
	first.stop()
	if n := stsReplicas(t, c); n != 3 {
		t.Fatalf("StatefulSet shrunk to %d before the leave was confirmed", n)
	}

	nodes.setLeftAs("")
	startManager(t, nodes)
	waitFor(t, "the new manager to finish the scale-down", 30*time.Second, func() bool {
		return stsReplicas(t, c) == 1 && podCount(t, c) == 1 && getCluster(t, ns, c.Name).Status.ScaleDown == nil
	})
	if got, want := slices.Compact(nodes.leaves()), []string{"resume-2", "resume-1"}; !slices.Equal(got, want) {
		t.Errorf("leave calls %v, want %v", got, want)
	}
}

func TestBrieflyMissingPodIsNoScaleIn(t *testing.T) {
	ns := newNamespace(t)
	nodes := &standIn{}
	startManager(t, nodes)
	c := newCluster(t, ns, "blip", 3)
	sim := startPodSim(t, c, false)
	waitFor(t, "3 ready pods", 20*time.Second, func() bool { return readyCount(t, c) == 3 })

	sim.hold("blip-2")
	waitFor(t, "pod 2 gone", 10*time.Second, func() bool { return podCount(t, c) == 2 })
	// Watch for a while: nothing may treat the missing pod as a scale-in.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		cl := getCluster(t, ns, c.Name)
		if cl.Status.ScaleDown != nil || stsReplicas(t, c) != 3 || len(nodes.leaves()) > 0 {
			t.Fatalf("missing pod taken for a scale-in: status %+v, StatefulSet %d, leaves %v", cl.Status.ScaleDown, stsReplicas(t, c), nodes.leaves())
		}
		time.Sleep(100 * time.Millisecond)
	}
	sim.release("blip-2")
	waitFor(t, "pod 2 back", 10*time.Second, func() bool { return readyCount(t, c) == 3 })
}

func TestScaleUpDuringScaleDownReverts(t *testing.T) {
	ns := newNamespace(t)
	nodes := &standIn{}
	nodes.setLeftAs("alive")
	startManager(t, nodes)
	c := newCluster(t, ns, "revert", 4)
	sim := startPodSim(t, c, false)
	waitFor(t, "4 ready pods", 20*time.Second, func() bool { return readyCount(t, c) == 4 })

	setReplicas(t, c, 3)
	waitFor(t, "phase Confirming", 20*time.Second, func() bool {
		sd := getCluster(t, ns, c.Name).Status.ScaleDown
		return sd != nil && sd.Phase == yzmav1.PhaseConfirming
	})
	setReplicas(t, c, 4)
	waitFor(t, "the revert", 20*time.Second, func() bool {
		return getCluster(t, ns, c.Name).Status.ScaleDown == nil && len(eventsWithReason(t, ns, reasonScaleDownRevert)) == 1
	})
	// The node had left: it stays out, not ready, and says so, until the
	// operator asks it to rejoin; its pod is not restarted.
	sim.setUnready("revert-3", true)
	nodes.setLeftAs("")
	waitFor(t, "revert-3 asked to rejoin", 20*time.Second, func() bool {
		return slices.Contains(nodes.trail(), "rejoin revert-3") && len(eventsWithReason(t, ns, reasonRejoin)) == 1
	})
	sim.setUnready("revert-3", false)
	waitFor(t, "4 ready pods again", 20*time.Second, func() bool { return readyCount(t, c) == 4 })
	if n := countOf(sim.events(), "create revert-3"); n != 1 {
		t.Errorf("revert-3 created %d times, want once (a rejoin, not a restart); trail %v", n, sim.events())
	}
	if n := stsReplicas(t, c); n != 4 {
		t.Errorf("StatefulSet at %d after the revert, want 4", n)
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}
