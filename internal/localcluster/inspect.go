// What tests and tools ask of a running cluster beyond its API: the
// process behind a container, its log file, the host directory of a
// claim's volume, and kubectl.

package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Process is a container's current process.
type Process struct {
	PID          int
	Namespace    string
	Pod          string
	Container    string
	PodIP        string
	Binary       string
	Args         []string
	Env          []string
	LogPath      string // stdout and stderr of every run, appended
	RestartCount int32
}

// Signal sends sig to the process (not its group).
func (p Process) Signal(sig syscall.Signal) error { return syscall.Kill(p.PID, sig) }

// ErrNoProcess is returned for a Pod or container that is not running here.
var ErrNoProcess = errors.New("no such process")

// PodProcess returns the current process of the Pod's first container.
func (c *Cluster) PodProcess(namespace, name string) (Process, error) {
	return c.ContainerProcess(namespace, name, "")
}

// ContainerProcess returns the current process of a Pod's container
// (empty: the first); ErrNoProcess if it is not running at the moment.
func (c *Cluster) ContainerProcess(namespace, name, container string) (Process, error) {
	rt := c.kubelet.runtimeFor(namespace, name)
	if rt == nil {
		return Process{}, fmt.Errorf("pod %s/%s: %w", namespace, name, ErrNoProcess)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, ct := range rt.all() {
		if container == "" && ct.init || container != "" && ct.spec.Name != container {
			continue
		}
		if ct.pid == 0 {
			break
		}
		return Process{
			PID: ct.pid, Namespace: namespace, Pod: name, Container: ct.spec.Name, PodIP: rt.ip,
			Binary: ct.bin, Args: slices.Clone(ct.args), Env: slices.Clone(ct.env),
			LogPath: ct.logPath, RestartCount: ct.restarts,
		}, nil
	}
	return Process{}, fmt.Errorf("pod %s/%s container %q: %w", namespace, name, container, ErrNoProcess)
}

// PodLogPath is the log file of a Pod's container (empty: the first),
// while the Pod runs on the node.
func (c *Cluster) PodLogPath(namespace, name, container string) (string, error) {
	rt := c.kubelet.runtimeFor(namespace, name)
	if rt == nil {
		return "", fmt.Errorf("pod %s/%s: %w", namespace, name, ErrNoProcess)
	}
	for _, ct := range rt.all() {
		if container == "" && !ct.init || ct.spec.Name == container {
			return ct.logPath, nil
		}
	}
	return "", fmt.Errorf("pod %s/%s has no container %q", namespace, name, container)
}

// PVCDir is the host directory of the volume bound to a claim.
func (c *Cluster) PVCDir(ctx context.Context, namespace, name string) (string, error) {
	var pvc corev1.PersistentVolumeClaim
	if err := c.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &pvc); err != nil {
		return "", err
	}
	if pvc.Spec.VolumeName == "" {
		return "", fmt.Errorf("persistentvolumeclaim %s/%s is not bound", namespace, name)
	}
	var pv corev1.PersistentVolume
	if err := c.client.Get(ctx, types.NamespacedName{Name: pvc.Spec.VolumeName}, &pv); err != nil {
		return "", err
	}
	switch {
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, nil
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path, nil
	}
	return "", fmt.Errorf("persistentvolume %s has no host directory", pv.Name)
}

// KubectlCmd is the command of kubectl from BinDir (else from PATH)
// against the cluster, not started: for long-running or interactive uses
// (port-forward, exec -i).
func (c *Cluster) KubectlCmd(ctx context.Context, args ...string) (*exec.Cmd, error) {
	path := filepath.Join(c.opts.BinDir, "kubectl")
	if _, err := os.Stat(path); err != nil {
		if path, err = exec.LookPath("kubectl"); err != nil {
			return nil, fmt.Errorf("kubectl: %w", err)
		}
	}
	return exec.CommandContext(ctx, path, append([]string{"--kubeconfig=" + c.kubeconfig}, args...)...), nil
}

// Kubectl runs kubectl from BinDir (else from PATH) against the cluster
// and returns its standard output; a failure's error carries its standard
// error.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	cmd, err := c.KubectlCmd(ctx, args...)
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
