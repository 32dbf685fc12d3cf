// A container's processes: one run (runOnce) and its exit status, and the
// supervision that restarts it with back-off as the restart policy says
// (supervise).

package localcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// termPath is the host file of the terminationMessagePath
	// (termination.go).
	termPath string
	// rootfs is the root directory of the container's image, unpacked
	// from an image archive, where its programs are found (exec actions
	// too); "" when the image map gave a host binary.
	rootfs  string
	imageID string // "sha256:…" with rootfs

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
	if err := c.resetTerminationFile(); err != nil {
		_ = out.Close() // nothing was written to it
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
		ExitCode: int32(code), Signal: int32(signal), Reason: reason, Message: c.terminationMessage(code),
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
