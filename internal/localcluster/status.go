// Reporting a Pod's status: the runtime's view (phase, conditions,
// container states) merged into the Pod object by a loop that writes it
// whenever something changed.

package localcluster

import (
	"cmp"
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pushStatus asks the status loop to write the Pod's status.
func (rt *podRuntime) pushStatus() {
	select {
	case rt.statusCh <- struct{}{}:
	default:
	}
}

// statusLoop writes the status whenever asked, until ctx ends.
func (rt *podRuntime) statusLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-rt.statusCh:
		}
		for ctx.Err() == nil {
			err := rt.writeStatus(ctx)
			if err == nil {
				break
			}
			if ctx.Err() == nil {
				rt.log.Debug("writing pod status", "err", err)
			}
			sleepCtx(ctx, 200*time.Millisecond)
		}
	}
}

// writeFinalStatus writes the status once more, synchronously, before the
// Pod object is deleted.
func (rt *podRuntime) writeFinalStatus() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = rt.writeStatus(ctx)
}

// writeStatus merges the runtime's view into the Pod's current status.
func (rt *podRuntime) writeStatus(ctx context.Context) error {
	rt.mu.Lock()
	noAPI := rt.noAPI
	rt.mu.Unlock()
	if noAPI {
		return nil
	}
	var pod corev1.Pod
	err := rt.k.api.Get(ctx, rt.key, &pod)
	if apierrors.IsNotFound(err) || err == nil && pod.UID != rt.uid {
		return nil
	}
	if err != nil {
		return err
	}
	rt.fillStatus(&pod.Status)
	err = rt.k.c.Status().Update(ctx, &pod)
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// fillStatus sets the fields a kubelet owns in st, keeping the conditions
// others own.
func (rt *podRuntime) fillStatus(st *corev1.PodStatus) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	st.HostIP, st.HostIPs = hostIP, rt.pod.Status.HostIPs
	st.PodIP, st.PodIPs = rt.ip, rt.pod.Status.PodIPs
	st.StartTime = &rt.startTime
	st.InitContainerStatuses = rt.containerStatuses(rt.inits)
	st.ContainerStatuses = rt.containerStatuses(rt.containers)

	allReady, anyStarted, allFinal, allOK := true, false, true, true
	for _, c := range rt.containers {
		allReady = allReady && c.ready
		anyStarted = anyStarted || c.ranOnce
		allFinal = allFinal && c.final
		allOK = allOK && c.final && c.state.Terminated != nil && c.state.Terminated.ExitCode == 0
	}
	switch {
	case rt.failed:
		st.Phase = corev1.PodFailed
	case rt.initDone && allFinal && len(rt.containers) > 0 && allOK:
		st.Phase = corev1.PodSucceeded
	case rt.initDone && allFinal && len(rt.containers) > 0:
		st.Phase = corev1.PodFailed
	case anyStarted:
		st.Phase = corev1.PodRunning
	default:
		st.Phase = corev1.PodPending
	}
	ready := allReady && rt.initDone && len(rt.containers) > 0
	reason := ""
	if !ready {
		reason = "ContainersNotReady"
	}
	b := func(v bool) corev1.ConditionStatus {
		if v {
			return corev1.ConditionTrue
		}
		return corev1.ConditionFalse
	}
	rt.setCond(corev1.PodScheduled, corev1.ConditionTrue, "")
	rt.setCond(corev1.PodReadyToStartContainers, b(rt.prepared), "")
	rt.setCond(corev1.PodInitialized, b(rt.initDone), map[bool]string{true: "", false: "ContainersNotInitialized"}[rt.initDone])
	rt.setCond(corev1.ContainersReady, b(ready), reason)
	rt.setCond(corev1.PodReady, b(ready), reason)
	var conds []corev1.PodCondition
	for _, c := range st.Conditions {
		if _, mine := rt.conds[c.Type]; !mine {
			conds = append(conds, c)
		}
	}
	for _, t := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized,
		corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
		conds = append(conds, rt.conds[t])
	}
	st.Conditions = conds
}

func (rt *podRuntime) setCond(t corev1.PodConditionType, s corev1.ConditionStatus, reason string) {
	old, ok := rt.conds[t]
	if ok && old.Status == s && old.Reason == reason {
		return
	}
	rt.conds[t] = corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: metav1.Now()}
}

func (rt *podRuntime) containerStatuses(cs []*container) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for _, c := range cs {
		started := c.started
		s := corev1.ContainerStatus{
			Name: c.spec.Name, Image: c.spec.Image, ImageID: cmp.Or(c.imageID, "localcluster://"+c.bin),
			State: *c.state.DeepCopy(), Ready: c.ready, RestartCount: c.restarts, Started: &started,
		}
		if c.pid != 0 {
			s.ContainerID = containerID(c.pid)
		} else if c.state.Terminated != nil {
			s.ContainerID = c.state.Terminated.ContainerID
		}
		// The last state is the previous run's end: while the container is
		// terminated, the one before.
		last := c.lastTerm
		if c.state.Terminated != nil {
			last = c.prevTerm
		}
		if last != nil {
			s.LastTerminationState.Terminated = last.DeepCopy()
		}
		out = append(out, s)
	}
	return out
}
