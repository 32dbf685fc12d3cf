package localcluster_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestPodEmulation runs a shell (image busybox, mapped to RunCommand) to
// check what a container process sees: its environment, volumes, init
// containers, exec probes, and a liveness restart.
func TestPodEmulation(t *testing.T) {
	c := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	k := c.Client()
	const ns = "emulation"
	t.Setenv("LOCALCLUSTER_HOST_ONLY", "leak") // not for containers

	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"},
			Data: map[string][]byte{"token": []byte("s3cret")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cfg"},
			Data: map[string]string{"mode": "fast", "config.json": `{"a":1}`}},
	}
	for _, o := range objs {
		if err := k.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	sh := func(name, script string) corev1.Container {
		return corev1.Container{
			Name: name, Image: "docker.io/library/busybox:1.36",
			Command: []string{"sh", "-c", script},
			Env: []corev1.EnvVar{
				{Name: "WORK", Value: "/work"},
				{Name: "CFG", Value: "/etc/cfg/config.json"},
				{Name: "TOKEN_FILE", Value: "/etc/creds/token"},
			},
			VolumeMounts: []corev1.VolumeMount{
				{Name: "work", MountPath: "/work"},
				{Name: "cfg", MountPath: "/etc/cfg"},
				{Name: "creds", MountPath: "/etc/creds", ReadOnly: true},
			},
		}
	}
	main := sh("main", `env > "$WORK/env.txt"; cp "$CFG" "$WORK/config.json"; cp "$TOKEN_FILE" "$WORK/token.txt"; `+
		`echo run >> "$WORK/runs.txt"; touch "$WORK/alive"; exec sleep 1000`)
	main.Env = append(main.Env,
		corev1.EnvVar{Name: "PLAIN", Value: "x"},
		corev1.EnvVar{Name: "EXPANDED", Value: "$(PLAIN)-y"},
		corev1.EnvVar{Name: "ESCAPED", Value: "$$(PLAIN)"},
		corev1.EnvVar{Name: "DATA_FILE", Value: "/work/data/file"},
		fieldEnv("POD_NAME", "metadata.name"), fieldEnv("POD_NAMESPACE", "metadata.namespace"),
		fieldEnv("POD_IP", "status.podIP"), fieldEnv("NODE", "spec.nodeName"), fieldEnv("POD_UID", "metadata.uid"),
		corev1.EnvVar{Name: "URL", Value: "http://$(POD_IP):8080"},
		corev1.EnvVar{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "token"}}},
		corev1.EnvVar{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "mode"}}},
		corev1.EnvVar{Name: "OPTIONAL", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Key: "k", Optional: ptr.To(true)}}},
	)
	main.EnvFrom = []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}
	exec := func(argv ...string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: argv}},
			PeriodSeconds: 1, FailureThreshold: 2}
	}
	main.ReadinessProbe = exec("test", "-f", "/work/token.txt")
	main.LivenessProbe = exec("test", "-f", "/work/alive")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shell"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](5),
			InitContainers:                []corev1.Container{sh("init", `echo init > "$WORK/init.txt"`)},
			Containers:                    []corev1.Container{main},
			Volumes: []corev1.Volume{
				{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
				{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
			},
		},
	}
	if err := k.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	p := waitRunningReady(t, k, ns, "shell", 30*time.Second)
	if st := p.Status.InitContainerStatuses; len(st) != 1 || st[0].State.Terminated == nil || st[0].State.Terminated.Reason != "Completed" {
		t.Errorf("init container status %+v", st)
	}
	proc, err := c.PodProcess(ns, "shell")
	if err != nil {
		t.Fatal(err)
	}
	work := envOf(proc.Env, "WORK")
	if !strings.HasPrefix(work, c.Dir()) {
		t.Fatalf("WORK=%q: the mount path was not rewritten to a directory of the cluster", work)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(work, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	env := map[string]string{}
	for _, line := range strings.Split(read("env.txt"), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	ip := p.Status.PodIP
	for name, want := range map[string]string{
		"PLAIN": "x", "EXPANDED": "x-y", "ESCAPED": "$(PLAIN)",
		"POD_NAME": "shell", "POD_NAMESPACE": ns, "POD_IP": ip, "NODE": c.NodeName(), "POD_UID": string(p.UID),
		"URL": "http://" + ip + ":8080", "TOKEN": "s3cret", "MODE": "fast", "CM_mode": "fast",
		"YZMA_BIND_HOST": ip, "YZMA_DNS_SERVER": c.DNSAddr(), "HOSTNAME": "shell",
		"DATA_FILE": work + "/data/file", "WORK": work,
	} {
		if env[name] != want {
			t.Errorf("container env %s=%q, want %q", name, env[name], want)
		}
	}
	for _, name := range []string{"OPTIONAL", "LOCALCLUSTER_HOST_ONLY"} {
		if v, ok := env[name]; ok {
			t.Errorf("container env has %s=%q", name, v)
		}
	}
	if got := read("config.json"); got != `{"a":1}` {
		t.Errorf("configMap volume file = %q", got)
	}
	if got := read("token.txt"); got != "s3cret" {
		t.Errorf("secret volume file = %q", got)
	}
	if got := read("init.txt"); got != "init\n" {
		t.Errorf("init container wrote %q", got)
	}

	// A failing liveness probe restarts the container.
	if err := os.Remove(filepath.Join(work, "alive")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "restart after the liveness probe failed", func(ctx context.Context) error {
		if err := k.Get(ctx, types.NamespacedName{Namespace: ns, Name: "shell"}, &p); err != nil {
			return err
		}
		if n := p.Status.ContainerStatuses[0].RestartCount; n != 1 {
			return fmt.Errorf("restartCount %d", n)
		}
		// The new process reports running as it starts, before its shell
		// has written its line.
		if got := read("runs.txt"); got != "run\nrun\n" {
			return fmt.Errorf("runs = %q, want two", got)
		}
		return runningReady(&p)
	})

	// Deleting the pod stops the process (SIGTERM) and removes the object.
	if err := k.Delete(ctx, &p); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "shell pod deleted", func(ctx context.Context) error {
		return gone(ctx, k, &corev1.Pod{}, ns, "shell")
	})
	if _, err := os.Stat(work); !os.IsNotExist(err) {
		t.Errorf("emptyDir %s still there after the pod: %v", work, err)
	}
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
}

func envOf(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// TestGracePeriod deletes a pod whose processes ignore SIGTERM: the whole
// process group is killed once the grace period is over, and the pod
// object goes.
func TestGracePeriod(t *testing.T) {
	c := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	k := c.Client()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "stubborn"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](2),
			HostNetwork:                   true,
			Containers: []corev1.Container{{
				Name: "sh", Image: "busybox",
				Command: []string{"sh", "-c", `trap '' TERM; while true; do sleep 0.2; done`},
			}},
		},
	}
	if err := k.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	var p corev1.Pod
	eventually(t, 20*time.Second, "stubborn pod Running", func(ctx context.Context) error {
		if err := k.Get(ctx, client.ObjectKeyFromObject(pod), &p); err != nil {
			return err
		}
		return runningReady(&p)
	})
	if p.Status.PodIP != "127.0.0.1" {
		t.Errorf("hostNetwork pod: podIP %s, want the host's 127.0.0.1", p.Status.PodIP)
	}
	proc, err := c.PodProcess("default", "stubborn")
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := k.Delete(ctx, &p); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "stubborn pod deleted", func(ctx context.Context) error {
		return gone(ctx, k, &corev1.Pod{}, "default", "stubborn")
	})
	if took := time.Since(began); took < 2*time.Second {
		t.Errorf("deleted after %s, before its 2s grace period", took)
	}
	// Nothing of its process group is left (once the killed children are
	// reaped).
	eventually(t, 5*time.Second, "process group gone", func(context.Context) error {
		if err := syscall.Kill(-proc.PID, 0); !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("process group %d: %v", proc.PID, err)
		}
		return nil
	})
}
