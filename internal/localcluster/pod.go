// The life of one Pod in the process kubelet: its runtime, made when the
// Pod is bound here (newPodRuntime); its run, from preparation to the exit
// of its last process (run); and its termination (terminate, then preStop
// hooks, SIGTERM and SIGKILL in stopProcesses).

package localcluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podRuntime runs one Pod: prepares its volumes and environments, runs
// its init containers then its containers, and stops them on deletion.
type podRuntime struct {
	k         *kubelet
	key       types.NamespacedName
	uid       types.UID
	pod       *corev1.Pod // as first seen, with status.podIP set
	dir       string
	ip        string
	log       *slog.Logger
	created   time.Time
	specGrace time.Duration

	mu          sync.Mutex
	startTime   metav1.Time
	prepared    bool
	initDone    bool
	failed      bool // an init container failed for good
	terminating bool
	noAPI       bool // the cluster is stopping: no more API writes
	inits       []*container
	containers  []*container
	conds       map[corev1.PodConditionType]corev1.PodCondition

	statusCh chan struct{}
	termCh   chan struct{} // closed when termination is requested
	termOnce sync.Once
	hurry    chan struct{} // closed by a later terminate with grace 0
	hurryOne sync.Once
	grace    time.Duration // set before termCh closes
	delete   bool          // delete the Pod object once stopped
	done     chan struct{} // closed when run returns
}

func newPodRuntime(k *kubelet, pod *corev1.Pod) (*podRuntime, error) {
	ip := hostIP
	if !pod.Spec.HostNetwork {
		var err error
		if ip, err = k.ips.allocate(); err != nil {
			return nil, err
		}
	}
	pod = pod.DeepCopy()
	pod.Status.PodIP, pod.Status.HostIP = ip, hostIP
	pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	pod.Status.HostIPs = []corev1.HostIP{{IP: hostIP}}
	rt := &podRuntime{
		k:         k,
		key:       types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name},
		uid:       pod.UID,
		pod:       pod,
		dir:       filepath.Join(k.podsDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID)),
		ip:        ip,
		log:       k.log.With("pod", pod.Namespace+"/"+pod.Name),
		created:   time.Now(),
		specGrace: 30 * time.Second,
		startTime: metav1.Now(),
		conds:     map[corev1.PodConditionType]corev1.PodCondition{},
		statusCh:  make(chan struct{}, 1),
		termCh:    make(chan struct{}),
		hurry:     make(chan struct{}),
		done:      make(chan struct{}),
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		rt.specGrace = time.Duration(*g) * time.Second
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		rt.inits = append(rt.inits, &container{spec: c, init: true, logPath: filepath.Join(rt.dir, c.Name+".log")})
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		rt.containers = append(rt.containers, &container{spec: c, logPath: filepath.Join(rt.dir, c.Name+".log")})
	}
	for _, c := range rt.all() {
		c.state.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		if !c.init && len(rt.inits) > 0 {
			c.state.Waiting.Reason = "PodInitializing"
		}
	}
	return rt, nil
}

func (rt *podRuntime) all() []*container {
	return append(append([]*container{}, rt.inits...), rt.containers...)
}

// terminate asks the Pod to stop: its containers get grace between SIGTERM
// and SIGKILL; with del, the Pod object is deleted afterwards. The first
// call wins.
// With noAPI (the cluster is stopping), nothing is written to the API
// server any more.
func (rt *podRuntime) terminate(grace time.Duration, del, noAPI bool) {
	if noAPI {
		rt.mu.Lock()
		rt.noAPI = true
		rt.mu.Unlock()
	}
	first := false
	rt.termOnce.Do(func() {
		first = true
		rt.mu.Lock()
		rt.grace, rt.delete = grace, del
		rt.terminating = true
		rt.mu.Unlock()
		close(rt.termCh)
	})
	// A Pod force-deleted while it was stopping gracefully: kill now.
	if !first && grace == 0 {
		rt.hurryOne.Do(func() { close(rt.hurry) })
	}
}

// run is the Pod's life; it returns once its processes are gone and, for
// a deleted Pod, the object too.
func (rt *podRuntime) run() {
	defer close(rt.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	statusDone := make(chan struct{})
	go func() {
		defer close(statusDone)
		rt.statusLoop(ctx)
	}()
	rt.pushStatus()
	rt.log.Info("pod starting", "ip", rt.ip, "dir", rt.dir)

	if rt.prepareLoop() {
		var wg sync.WaitGroup
		wg.Go(func() {
			for _, c := range rt.inits {
				if !rt.supervise(c) {
					return
				}
			}
			rt.mu.Lock()
			rt.initDone = true
			rt.mu.Unlock()
			rt.pushStatus()
			for _, c := range rt.containers {
				wg.Go(func() { rt.supervise(c) })
			}
		})
		// Wait for deletion, killing what runs once it comes.
		<-rt.termCh
		rt.stopProcesses()
		wg.Wait()
	} else {
		<-rt.termCh
	}

	rt.mu.Lock()
	del := rt.delete && !rt.noAPI
	for _, c := range rt.all() {
		c.ready = false
	}
	rt.mu.Unlock()
	cancel()
	<-statusDone
	// emptyDir and the other per-Pod volumes go with the Pod; the logs stay.
	_ = os.RemoveAll(filepath.Join(rt.dir, "volumes"))
	_ = os.RemoveAll(filepath.Join(rt.dir, "tmp"))
	if del {
		rt.writeFinalStatus()
		dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer dcancel()
		if err := rt.k.deletePod(dctx, rt.key.Namespace, rt.key.Name, rt.uid); err != nil {
			rt.log.Error("deleting stopped pod", "err", err)
		}
	}
	rt.log.Info("pod stopped", "deleted", del)
}

// stopProcesses runs the preStop hooks, then SIGTERMs every process and
// SIGKILLs what remains after the grace period.
func (rt *podRuntime) stopProcesses() {
	rt.mu.Lock()
	grace := rt.grace
	type proc struct {
		c      *container
		pid    int
		exited chan struct{}
	}
	var procs []proc
	for _, c := range rt.all() {
		if c.pid != 0 {
			procs = append(procs, proc{c, c.pid, c.exited})
		}
	}
	rt.mu.Unlock()
	deadline := time.Now().Add(grace)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range procs {
		if grace > 0 {
			rt.event(corev1.EventTypeNormal, "Killing", "Stopping container %s", p.c.spec.Name)
		}
		wg.Go(func() {
			if grace > 0 {
				rt.preStop(ctx, p.c)
			}
			if killed := stopGroup(p.pid, p.exited, time.Until(deadline), rt.hurry); killed && grace > 0 {
				rt.log.Warn("container did not stop within its grace period: killed", "container", p.c.spec.Name, "grace", grace)
			}
		})
	}
	wg.Wait()
}

// preStop runs c's preStop hook, if any, within ctx.
func (rt *podRuntime) preStop(ctx context.Context, c *container) {
	if c.spec.Lifecycle == nil || c.spec.Lifecycle.PreStop == nil {
		return
	}
	h := c.spec.Lifecycle.PreStop
	var err error
	switch {
	case h.HTTPGet != nil:
		p := &prober{c: c.spec, ip: rt.ip}
		_, err = doHTTPGet(ctx, h.HTTPGet, rt.ip, p.port)
	case h.Exec != nil:
		err = runHostCommand(ctx, h.Exec.Command, c.env, c.dir, c.paths, c.rootfs)
	case h.Sleep != nil:
		sleepCtx(ctx, time.Duration(h.Sleep.Seconds)*time.Second)
	}
	if err != nil {
		rt.event(corev1.EventTypeWarning, "FailedPreStopHook", "PreStop hook of %s failed: %v", c.spec.Name, err)
	}
}

func (rt *podRuntime) event(typ, reason, format string, args ...any) {
	rt.mu.Lock()
	noAPI := rt.noAPI
	rt.mu.Unlock()
	if noAPI {
		return
	}
	rt.k.rec.Eventf(rt.pod, nil, typ, reason, reason, format, args...)
}
