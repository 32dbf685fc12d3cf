package localcluster_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/modroot"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/yzma/yzma/internal/localcluster"
)

// TestExec runs the real kubectl exec in a shell container (busybox,
// mapped to RunCommand), over WebSockets (kubectl's default, translated
// to SPDY by the API server) and over SPDY.
func TestExec(t *testing.T) {
	c := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k := c.Client()
	const ns = "exec"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shell"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](2),
			Containers: []corev1.Container{{
				Name: "main", Image: "busybox:1.36",
				Command:      []string{"sh", "-c", `echo ready > "$WORK/ready"; exec sleep 1000`},
				Env:          []corev1.EnvVar{{Name: "WORK", Value: "/work"}, {Name: "GREETING", Value: "hello"}},
				WorkingDir:   "/work",
				VolumeMounts: []corev1.VolumeMount{{Name: "work", MountPath: "/work"}},
			}},
			Volumes: []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	for _, o := range []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, pod} {
		if err := k.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitRunningReady(t, k, ns, "shell", 30*time.Second)
	// Only the API server may call the kubelet: a process that finds its
	// port (the Node's status names it) fails the handshake without the
	// API server's client certificate.
	var node corev1.Node
	if err := k.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
		t.Fatal(err)
	}
	if err := k.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, &node); err != nil {
		t.Fatal(err)
	}
	kubeletAddr := net.JoinHostPort(node.Status.Addresses[0].Address, strconv.Itoa(int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)))
	conn, err := tls.Dial("tcp", kubeletAddr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the server's identity is not what is tested
	if err == nil {
		_, err = conn.Write([]byte("GET /containerLogs/exec/shell/main HTTP/1.1\r\nHost: x\r\n\r\n"))
		if err == nil {
			_, err = conn.Read(make([]byte, 1))
		}
		conn.Close()
	}
	if err == nil {
		t.Fatal("the kubelet answered a caller without a client certificate")
	}
	proc, err := c.PodProcess(ns, "shell")
	if err != nil {
		t.Fatal(err)
	}
	work := envOf(proc.Env, "WORK") // the host directory of /work

	big := randomBytes(1<<20, 3)
	for _, proto := range []struct{ name, env string }{
		{"websockets", "KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true"},
		{"spdy", "KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"},
	} {
		t.Run(proto.name, func(t *testing.T) {
			kc := func(stdin []byte, args ...string) (string, string, int) {
				return kubectl(t, c, []string{proto.env}, stdin, append([]string{"exec", "-n", ns, "shell"}, args...)...)
			}
			// The exit code comes back.
			if _, stderr, code := kc(nil, "--", "sh", "-c", "exit 3"); code != 3 {
				t.Errorf("exit 3: kubectl exited %d: %s", code, stderr)
			}
			// stdout and stderr stay apart.
			if out, stderr, code := kc(nil, "--", "sh", "-c", "echo to-out; echo to-err >&2"); code != 0 || out != "to-out\n" ||
				!strings.Contains(stderr, "to-err") || strings.Contains(stderr, "to-out") {
				t.Errorf("stdout %q, stderr %q, code %d", out, stderr, code)
			}
			// stdin reaches the command, and its end is the command's EOF.
			if out, stderr, code := kc(big, "-i", "--", "cat"); code != 0 || !bytes.Equal([]byte(out), big) {
				t.Errorf("cat of 1 MiB: %d bytes back (equal %v), code %d: %s", len(out), bytes.Equal([]byte(out), big), code, stderr)
			}
			if out, stderr, code := kc([]byte("a\nb\nb\n"), "-i", "--", "sh", "-c", "uniq | wc -l"); code != 0 || strings.TrimSpace(out) != "2" {
				t.Errorf("uniq | wc -l: %q, code %d: %s", out, code, stderr)
			}
			// The container's environment, working directory and volumes.
			want := fmt.Sprintf("hello\n%s\n%s\nready\n", work, work)
			if out, stderr, code := kc(nil, "--", "sh", "-c", `echo "$GREETING"; echo "$WORK"; pwd; cat "$WORK/ready"`); code != 0 || out != want {
				t.Errorf("environment: %q, code %d, want %q: %s", out, code, want, stderr)
			}
			if out, stderr, code := kc(nil, "--", "cat", "/work/ready"); code != 0 || out != "ready\n" {
				t.Errorf("cat /work/ready: %q, code %d: %s", out, code, stderr)
			}
			// A command that does not exist fails.
			if _, stderr, code := kc(nil, "--", "no-such-command"); code == 0 || !strings.Contains(stderr, "not found") {
				t.Errorf("no-such-command: code %d: %s", code, stderr)
			}
		})
	}

	// A terminal, as kubectl exec -it gives one, through client-go's
	// WebSocket executor (kubectl needs a terminal of its own for -t).
	t.Run("tty", func(t *testing.T) {
		cs, err := kubernetes.NewForConfig(c.RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		script := `for i in 1 2 3 4 5 6 7 8 9 10; do s=$(stty size); [ "$s" = "30 100" ] && break; sleep 0.2; done; ` +
			`echo "size $s"; test -t 0 && echo tty; read line; echo "got $line"`
		req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("shell").SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{
				Container: "main", Command: []string{"sh", "-c", script},
				Stdin: true, Stdout: true, TTY: true,
			}, scheme.ParameterCodec)
		ex, err := remotecommand.NewWebSocketExecutor(c.RESTConfig(), "GET", req.URL().String())
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		defer scancel()
		err = ex.StreamWithContext(sctx, remotecommand.StreamOptions{
			Stdin: strings.NewReader("typed\n"), Stdout: &out, Tty: true,
			TerminalSizeQueue: &sizeQueue{sizes: []remotecommand.TerminalSize{{Width: 100, Height: 30}}},
		})
		if err != nil {
			t.Fatalf("exec with a tty: %v; output %q", err, out.String())
		}
		got := strings.ReplaceAll(out.String(), "\r\n", "\n")
		for _, want := range []string{"size 30 100\n", "tty\n", "got typed\n"} {
			if !strings.Contains(got, want) {
				t.Errorf("tty output %q lacks %q", got, want)
			}
		}
	})

	// An exec'd process dies with its Pod.
	t.Run("dies with the pod", func(t *testing.T) {
		pidFile := filepath.Join(work, "exec.pid")
		done := make(chan int, 1)
		go func() {
			_, _, code := kubectl(t, c, nil, nil, "exec", "-n", ns, "shell", "--", "sh", "-c", `echo $$ > "$WORK/exec.pid"; exec sleep 1000`)
			done <- code
		}()
		var pid int
		eventually(t, 20*time.Second, "the exec'd process started", func(context.Context) error {
			b, err := os.ReadFile(pidFile)
			if err == nil {
				_, err = fmt.Sscan(string(b), &pid)
			}
			return err
		})
		if err := k.Delete(ctx, pod); err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-done:
			if code == 0 {
				t.Errorf("kubectl exec of a killed process exited 0")
			}
		case <-time.After(30 * time.Second):
			t.Fatal("kubectl exec still running 30s after the pod's deletion")
		}
		if err := processAlive(pid); err == nil {
			t.Errorf("exec'd process %d outlived its pod", pid)
		}
	})
}

// TestExecImageFile runs a file of the Yzma image in a Yzma pod, as in
// `kubectl exec yzma-0 -- /yzmactl get k`: the image's root is the
// directory of the binary the image maps to.
func TestExecImageFile(t *testing.T) {
	c := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, err := modroot.Find()
	if err != nil {
		t.Fatal(err)
	}
	// yzmactl next to the node binary, as `make build` puts both in bin/.
	yzmactl := filepath.Join(filepath.Dir(nodeBin), "yzmactl")
	build := exec.CommandContext(ctx, "go", "build", "-o", yzmactl, "./cmd/yzmactl")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/yzmactl: %v: %s", err, out)
	}
	k := c.Client()
	const ns = "exec-image"
	_, pod := kvPod(ns, "kv",
		fieldEnv("POD_IP", "status.podIP"),
		corev1.EnvVar{Name: "YZMA_SERVER", Value: "http://$(POD_IP):8080"})
	for _, o := range []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, pod} {
		if err := k.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitRunningReady(t, k, ns, "kv-0", 60*time.Second)
	kc := func(stdin []byte, args ...string) (string, string, int) {
		return kubectl(t, c, nil, stdin, append([]string{"exec", "-n", ns, "kv-0"}, args...)...)
	}
	if _, stderr, code := kc(nil, "--", "/yzmactl", "get", "k"); code != 1 || !strings.Contains(stderr, "not found") {
		t.Errorf("/yzmactl get k of a missing key: code %d (want 1): %s", code, stderr)
	}
	if _, stderr, code := kc([]byte("v1"), "-i", "--", "/yzmactl", "put", "k"); code != 0 {
		t.Errorf("/yzmactl put k (value on stdin): code %d: %s", code, stderr)
	}
	if out, stderr, code := kc(nil, "--", "/yzmactl", "get", "k"); code != 0 || strings.TrimSpace(out) != "v1" {
		t.Errorf("/yzmactl get k: %q, code %d: %s", out, code, stderr)
	}
	// Paths under a volume mount are the volume's; others the host's.
	if _, stderr, code := kc(nil, "--", "/usr/bin/test", "-f", "/var/lib/yzma/yzma.db"); code != 0 {
		t.Errorf("test -f /var/lib/yzma/yzma.db: code %d: %s", code, stderr)
	}
}

// kubectl runs kubectl ARGS with env added and stdin (nil: none) and
// returns its stdout, stderr and exit code, within 60 s.
func kubectl(t *testing.T, c *localcluster.Cluster, env []string, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl"), append([]string{"--kubeconfig=" + c.Kubeconfig()}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Errorf("kubectl %s: not done within 60s", strings.Join(args, " "))
	}
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), code
}

// sizeQueue hands out terminal sizes, then none.
type sizeQueue struct{ sizes []remotecommand.TerminalSize }

func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	if len(q.sizes) == 0 {
		return nil
	}
	s := q.sizes[0]
	q.sizes = q.sizes[1:]
	return &s
}

// processAlive is nil while process pid exists.
func processAlive(pid int) error { return syscall.Kill(pid, 0) }
