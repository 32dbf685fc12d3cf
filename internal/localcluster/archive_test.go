package localcluster_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/yzma/yzma/internal/image"
)

// helloImage is a tiny image in an archive given to the shared cluster:
// shell scripts (run by the host's /bin/sh) that record how they were run.
const helloImage = "localcluster.test/hello:v1"

// writeHelloImage writes helloImage's archive into dir.
func writeHelloImage(dir string) (string, error) {
	// hello writes its argv, working directory and environment to
	// $OUT/$NAME.txt, then waits to be stopped.
	hello := `#!/bin/sh
{ echo "argv0=$0"; echo "args=$*"; echo "pwd=$(pwd)"; env; } > "$OUT/$NAME.txt"
exec sleep 1000
`
	// ready is an exec probe found in the image.
	ready := `#!/bin/sh
test -f "$OUT/$NAME.txt"
`
	out := filepath.Join(dir, "hello-image.tar")
	cfg := image.Config{
		Entrypoint: []string{"/bin/hello"}, Cmd: []string{"default-arg"},
		Env:        []string{"PATH=/bin:/usr/bin", "GREETING=from-image", "OVERRIDE=image", "DATA=/out/data"},
		WorkingDir: "/work",
	}
	files := []image.File{
		{Path: "/bin/hello", Mode: 0o755, Data: []byte(hello)},
		{Path: "/bin/ready", Mode: 0o755, Data: []byte(ready)},
		{Path: "/etc/motd", Mode: 0o644, Data: []byte("hello\n")},
	}
	return out, image.Write(out, helloImage, cfg, files)
}

// TestPodFromImageArchive runs containers of helloImage, which only the
// cluster's image archive holds: each runs the script unpacked from the
// archive, with the image's environment under the container's, the
// image's working directory, and its entrypoint and cmd as Kubernetes
// combines them with the container's command and args.
func TestPodFromImageArchive(t *testing.T) {
	c := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	k := c.Client()
	const ns = "from-archive"
	if err := k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	root, err := c.ImageRoot(helloImage)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.ImageRoot("localcluster.test/hello:v1"); err != nil || again != root {
		t.Errorf("ImageRoot again = %q, %v; want %q (unpacked once)", again, err, root)
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc", "motd")); err != nil || string(b) != "hello\n" {
		t.Errorf("%s/etc/motd = %q, %v", root, b, err)
	}

	ctr := func(name string) corev1.Container {
		return corev1.Container{
			Name: name, Image: helloImage,
			Env: []corev1.EnvVar{
				{Name: "NAME", Value: name},
				{Name: "OUT", Value: "/out"},
				{Name: "OVERRIDE", Value: "container"},
			},
			VolumeMounts: []corev1.VolumeMount{{Name: "out", MountPath: "/out"}},
		}
	}
	defaults := ctr("defaults") // the image's entrypoint and cmd
	defaults.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/ready"}}},
		PeriodSeconds: 1,
	}
	args := ctr("args") // the image's entrypoint, the container's args
	args.Args = []string{"$(OVERRIDE)", "$(GREETING)", "/out/x"}
	command := ctr("command") // the container's command, found in the image's PATH
	command.Command = []string{"hello"}
	command.Args = []string{"cmd"}
	command.WorkingDir = "/out"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hello"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers:                    []corev1.Container{defaults, args, command},
			Volumes:                       []corev1.Volume{{Name: "out", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	if err := k.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	p := waitRunningReady(t, k, ns, "hello", 45*time.Second)
	proc, err := c.ContainerProcess(ns, "hello", "defaults")
	if err != nil {
		t.Fatal(err)
	}
	out := envOf(proc.Env, "OUT")
	if want := filepath.Join(root, "bin", "hello"); proc.Binary != want {
		t.Errorf("binary %s, want %s from the unpacked image", proc.Binary, want)
	}

	type run struct {
		argv0, args, pwd string
		env              map[string]string
	}
	read := func(name string) run {
		t.Helper()
		var r run
		eventually(t, 10*time.Second, name+" wrote its file", func(context.Context) error {
			b, err := os.ReadFile(filepath.Join(out, name+".txt"))
			if err != nil {
				return err
			}
			r = run{env: map[string]string{}}
			for _, line := range strings.Split(string(b), "\n") {
				k, v, _ := strings.Cut(line, "=")
				switch k {
				case "argv0":
					r.argv0 = v
				case "args":
					r.args = v
				case "pwd":
					r.pwd = v
				default:
					r.env[k] = v
				}
			}
			if r.env["NAME"] != name {
				return fmt.Errorf("incomplete: %q", b)
			}
			return nil
		})
		return r
	}
	ip := p.Status.PodIP
	for _, tc := range []struct {
		name, argv0, args, pwd string
	}{
		{"defaults", filepath.Join(root, "bin", "hello"), "default-arg", filepath.Join(root, "work")},
		// $(VAR) sees the container's variables, not the image's.
		{"args", filepath.Join(root, "bin", "hello"), "container $(GREETING) " + out + "/x", filepath.Join(root, "work")},
		{"command", filepath.Join(root, "bin", "hello"), "cmd", out},
	} {
		r := read(tc.name)
		if r.argv0 != tc.argv0 || r.args != tc.args || r.pwd != tc.pwd {
			t.Errorf("%s ran %s %q in %s; want %s %q in %s", tc.name, r.argv0, r.args, r.pwd, tc.argv0, tc.args, tc.pwd)
		}
		for name, want := range map[string]string{
			"GREETING": "from-image", "OVERRIDE": "container", "PATH": "/bin:/usr/bin",
			"DATA": out + "/data", "OUT": out, "YZMA_BIND_HOST": ip, "HOSTNAME": "hello",
		} {
			if got := r.env[name]; got != want {
				t.Errorf("%s: %s=%q, want %q", tc.name, name, got, want)
			}
		}
		if home := r.env["HOME"]; !strings.HasPrefix(home, c.Dir()) || strings.HasPrefix(home, out) {
			t.Errorf("%s: HOME=%q, want the pod's home directory", tc.name, home)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "work")); err != nil {
		t.Errorf("the image's working directory was not made: %v", err)
	}
	if id := p.Status.ContainerStatuses[0].ImageID; !strings.HasPrefix(id, "sha256:") || !strings.Contains(root, strings.TrimPrefix(id, "sha256:")) {
		t.Errorf("imageID %q, root %s", id, root)
	}

	// An image in no archive and not in the image map waits, saying which
	// images the archives hold.
	missing := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "missing"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "localcluster.test/hello:v2"}}},
	}
	if err := k.Create(ctx, missing); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "missing image reported", func(ctx context.Context) error {
		var m corev1.Pod
		if err := k.Get(ctx, types.NamespacedName{Namespace: ns, Name: "missing"}, &m); err != nil {
			return err
		}
		for _, s := range m.Status.ContainerStatuses {
			if w := s.State.Waiting; w != nil && w.Reason == "ErrImagePull" && strings.Contains(w.Message, helloImage) {
				return nil
			}
		}
		return fmt.Errorf("statuses %+v", m.Status.ContainerStatuses)
	})

	for _, obj := range []*corev1.Pod{&p, missing} {
		if err := k.Delete(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"hello", "missing"} {
		eventually(t, 20*time.Second, name+" pod deleted", func(ctx context.Context) error {
			return gone(ctx, k, &corev1.Pod{}, ns, name)
		})
	}
	if _, err := c.ImageRoot("localcluster.test/nothing:v1"); err == nil || !strings.Contains(err.Error(), helloImage) {
		t.Errorf("ImageRoot of an image in no archive: %v", err)
	}
}
