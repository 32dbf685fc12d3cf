package localcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const (
	backoffBase = time.Second
	backoffMax  = 30 * time.Second
)

// container is one (init) container of a Pod and its current process.
type container struct {
	spec    *corev1.Container
	init    bool
	logPath string

	// Set by prepare.
	bin   string
	args  []string
	env   []string
	dir   string
	paths pathMap

	// Guarded by podRuntime.mu.
	restarts int32
	pid      int
	exited   chan struct{} // closed when the current process exits
	state    corev1.ContainerState
	lastTerm *corev1.ContainerStateTerminated // the latest run's end
	prevTerm *corev1.ContainerStateTerminated // the run's before that
	ready    bool
	started  bool
	final    bool // terminated and will not run again
	ranOnce  bool
}

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

// prepareLoop retries preparing the Pod until it works or the Pod is
// deleted; it reports whether containers may run.
func (rt *podRuntime) prepareLoop() bool {
	for attempt := 0; ; attempt++ {
		err := rt.prepare()
		if err == nil {
			rt.mu.Lock()
			rt.prepared = true
			rt.mu.Unlock()
			rt.pushStatus()
			return true
		}
		reason := "ContainerCreating"
		var ce *configError
		if errors.As(err, &ce) {
			reason = ce.reason
		}
		switch {
		case attempt == 0:
			rt.log.Debug("pod waiting", "reason", reason, "err", err)
		case attempt%30 == 10:
			rt.log.Info("pod still waiting", "reason", reason, "err", err)
		}
		rt.mu.Lock()
		for _, c := range rt.all() {
			c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}}
		}
		rt.mu.Unlock()
		rt.pushStatus()
		// Claims bind within a second or so: look often at first.
		wait := time.Second
		if attempt < 10 {
			wait = 200 * time.Millisecond
		}
		select {
		case <-rt.termCh:
			return false
		case <-time.After(wait):
		}
	}
}

// prepare makes the Pod's directories and volumes and each container's
// argv, environment and mounts.
func (rt *podRuntime) prepare() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := objects{ctx: ctx, c: rt.k.api, ns: rt.key.Namespace}
	home, tmp := filepath.Join(rt.dir, "home"), filepath.Join(rt.dir, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	vols, err := podVolumes(o, rt.pod, rt.dir)
	if err != nil {
		return err
	}
	hostname := rt.pod.Spec.Hostname
	if hostname == "" {
		hostname = rt.pod.Name
	}
	base := [][2]string{
		{"PATH", envOr("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")},
		{"HOSTNAME", hostname},
		{"HOME", home},
		{"TMPDIR", tmp},
	}
	base = append(base, rt.k.baseEnv...)
	base = append(base, [2]string{"YZMA_BIND_HOST", rt.ip}, [2]string{"YZMA_DNS_SERVER", rt.k.dnsAddr})
	for _, c := range rt.all() {
		bin, args, err := containerArgv(rt.k.imageMap, c.spec.Image, c.spec.Command, c.spec.Args)
		if err != nil {
			return configErrorf("ErrImagePull", "%v", err)
		}
		env, err := containerEnv(o, rt.pod, c.spec, base)
		if err != nil {
			return err
		}
		paths, err := containerMounts(c.spec, vols, env)
		if err != nil {
			return configErrorf("CreateContainerConfigError", "%v", err)
		}
		c.args = make([]string, len(args))
		for i, a := range args {
			c.args[i] = paths.rewrite(expand(a, env.get))
		}
		for _, n := range env.names {
			env.vals[n] = paths.rewrite(env.vals[n])
		}
		c.bin, c.env, c.paths = bin, env.environ(), paths
		c.dir = rt.dir
		if c.spec.WorkingDir != "" {
			c.dir = paths.rewrite(c.spec.WorkingDir)
			if err := os.MkdirAll(c.dir, 0o755); err != nil {
				return err
			}
		}
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// supervise runs container c, restarting it as the restart policy says
// (an init container until it succeeds), until it is done for good or the
// Pod is terminating. It reports whether c ended successfully.
func (rt *podRuntime) supervise(c *container) bool {
	policy := rt.pod.Spec.RestartPolicy
	if c.init && c.spec.RestartPolicy != nil && *c.spec.RestartPolicy == corev1.ContainerRestartPolicyAlways {
		rt.log.Warn("sidecar init containers run to completion here", "container", c.spec.Name)
	}
	backoff := backoffBase
	for {
		startedAt := time.Now()
		code, err := rt.runOnce(c)
		if err != nil {
			rt.log.Error("container failed to start", "container", c.spec.Name, "err", err)
		}
		rt.mu.Lock()
		terminating := rt.terminating
		restart := !terminating && (policy == corev1.RestartPolicyAlways && !c.init ||
			code != 0 && policy != corev1.RestartPolicyNever)
		if !restart {
			c.final = true
			if code != 0 && c.init && !terminating {
				rt.failed = true
			}
		}
		rt.mu.Unlock()
		if !restart {
			rt.pushStatus()
			return code == 0 && !terminating
		}
		if time.Since(startedAt) > 2*backoffMax {
			backoff = backoffBase
		}
		rt.mu.Lock()
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason:  "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", backoff, c.spec.Name, rt.key.Name),
		}}
		rt.mu.Unlock()
		rt.pushStatus()
		rt.event(corev1.EventTypeWarning, "BackOff", "Back-off restarting container %s", c.spec.Name)
		select {
		case <-rt.termCh:
			rt.mu.Lock()
			c.final = true
			rt.mu.Unlock()
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, backoffMax)
		rt.mu.Lock()
		c.restarts++
		rt.mu.Unlock()
	}
}

// runOnce starts c's process and waits for it to exit (running its probes
// meanwhile); it returns the exit code.
func (rt *podRuntime) runOnce(c *container) (int, error) {
	out, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return rt.startFailed(c, err)
	}
	cmd := exec.Command(c.bin, c.args...)
	cmd.Env, cmd.Dir = c.env, c.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = procAttr()

	rt.mu.Lock()
	if rt.terminating {
		rt.mu.Unlock()
		_ = out.Close() // nothing was written to it
		return 0, nil
	}
	err = cmd.Start()
	if err != nil {
		rt.mu.Unlock()
		_ = out.Close() // nothing was written to it
		return rt.startFailed(c, err)
	}
	exited := make(chan struct{})
	now := metav1.Now()
	pid, restarts := cmd.Process.Pid, c.restarts
	c.pid, c.exited, c.ranOnce = pid, exited, true
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
	c.started = c.spec.StartupProbe == nil
	c.ready = c.spec.ReadinessProbe == nil && c.started && !c.init
	rt.mu.Unlock()
	rt.pushStatus()
	rt.log.Info("container started", "container", c.spec.Name, "pid", pid, "restarts", restarts,
		"binary", c.bin, "log", c.logPath)
	rt.event(corev1.EventTypeNormal, "Started", "Started container %s (pid %d, log %s)", c.spec.Name, pid, c.logPath)

	var status *os.ProcessState
	go func() {
		_ = cmd.Wait()
		status = cmd.ProcessState
		if err := out.Close(); err != nil {
			rt.log.Warn("closing the container log", "container", c.spec.Name, "log", c.logPath, "err", err)
		}
		close(exited)
	}()

	probeCtx, stopProbes := context.WithCancel(context.Background())
	var probes sync.WaitGroup
	if !c.init {
		rt.startProbes(probeCtx, &probes, c, exited)
	}
	<-exited
	stopProbes()
	probes.Wait()

	code, reason, signal := exitStatus(status)
	rt.mu.Lock()
	term := &corev1.ContainerStateTerminated{
		ExitCode: int32(code), Signal: int32(signal), Reason: reason,
		StartedAt: now, FinishedAt: metav1.Now(), ContainerID: containerID(pid),
	}
	c.state = corev1.ContainerState{Terminated: term}
	c.prevTerm, c.lastTerm = c.lastTerm, term
	c.ready, c.started, c.pid = false, false, 0
	rt.mu.Unlock()
	rt.pushStatus()
	rt.log.Info("container exited", "container", c.spec.Name, "code", code, "reason", reason)
	return code, nil
}

func (rt *podRuntime) startFailed(c *container, err error) (int, error) {
	rt.mu.Lock()
	now := metav1.Now()
	term := &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error(), StartedAt: now, FinishedAt: now}
	c.state = corev1.ContainerState{Terminated: term}
	c.prevTerm, c.lastTerm = c.lastTerm, term
	rt.mu.Unlock()
	rt.pushStatus()
	return 128, err
}

func exitStatus(ps *os.ProcessState) (code int, reason string, signal int) {
	if ps == nil {
		return 128, "Error", 0
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), "Error", int(ws.Signal())
	}
	code = ps.ExitCode()
	if code == 0 {
		return 0, "Completed", 0
	}
	return code, "Error", 0
}

func containerID(pid int) string { return "process://" + strconv.Itoa(pid) }

// startProbes runs c's startup probe, then its readiness and liveness
// probes, until ctx ends. A failing startup or liveness probe kills the
// process (supervise restarts it).
func (rt *podRuntime) startProbes(ctx context.Context, wg *sync.WaitGroup, c *container, exited chan struct{}) {
	mk := func(kind string, p *corev1.Probe) *prober {
		return &prober{kind: kind, probe: p, c: c.spec, ip: rt.ip, env: c.env, dir: c.dir, paths: c.paths}
	}
	kill := func(kind, msg string) {
		rt.event(corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", kind, msg)
		rt.event(corev1.EventTypeNormal, "Killing", "Container %s failed %s probe, will be restarted", c.spec.Name, strings.ToLower(kind))
		rt.log.Info("probe failed: restarting container", "container", c.spec.Name, "probe", kind, "msg", msg)
		rt.mu.Lock()
		pid := c.pid
		rt.mu.Unlock()
		grace := rt.specGrace
		if c.spec.LivenessProbe != nil && c.spec.LivenessProbe.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*c.spec.LivenessProbe.TerminationGracePeriodSeconds) * time.Second
		}
		go stopGroup(pid, exited, grace, rt.hurry)
	}
	running := func() {
		if p := c.spec.ReadinessProbe; p != nil {
			wg.Go(func() {
				mk("Readiness", p).run(ctx, func(ok bool, msg string) {
					if !ok {
						rt.event(corev1.EventTypeWarning, "Unhealthy", "Readiness probe failed: %s", msg)
					}
					rt.mu.Lock()
					c.ready = ok
					rt.mu.Unlock()
					rt.pushStatus()
				})
			})
		}
		if p := c.spec.LivenessProbe; p != nil {
			wg.Go(func() {
				mk("Liveness", p).run(ctx, func(ok bool, msg string) {
					if !ok {
						kill("Liveness", msg)
					}
				})
			})
		}
	}
	p := c.spec.StartupProbe
	if p == nil {
		running()
		return
	}
	wg.Go(func() {
		sctx, done := context.WithCancel(ctx)
		defer done()
		mk("Startup", p).run(sctx, func(ok bool, msg string) {
			if !ok {
				kill("Startup", msg)
				done()
				return
			}
			rt.mu.Lock()
			c.started = true
			c.ready = c.spec.ReadinessProbe == nil
			rt.mu.Unlock()
			rt.pushStatus()
			running()
			done()
		})
	})
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
		err = runHostCommand(ctx, h.Exec.Command, c.env, c.dir, c.paths)
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
			Name: c.spec.Name, Image: c.spec.Image, ImageID: "localcluster://" + c.bin,
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
