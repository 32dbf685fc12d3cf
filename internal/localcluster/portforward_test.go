package localcluster_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/yzma/yzma/internal/localcluster"
	"github.com/yzma/yzma/internal/syncbuf"
	yzmaclient "github.com/yzma/yzma/node/client"
)

// kvPod is a single Yzma node behind a Service, for streaming tests.
func kvPod(ns, name string, env ...corev1.EnvVar) (*corev1.Service, *corev1.Pod) {
	labels := map[string]string{"app": name}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "api", Port: 80, TargetPort: intstr.FromString("api")}},
		},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-0", Labels: labels},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](5),
			Containers: []corev1.Container{{
				Name: "yzma", Image: "ghcr.io/yzma/yzma:dev",
				Env: append([]corev1.EnvVar{
					{Name: "YZMA_API_BIND", Value: ":8080"},
					{Name: "YZMA_DB_PATH", Value: "/var/lib/yzma/yzma.db"},
				}, env...),
				Ports:        []corev1.ContainerPort{{Name: "api", ContainerPort: 8080}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/yzma"}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("api")}},
					PeriodSeconds: 1,
				},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	return svc, pod
}

// TestPortForward runs the real kubectl port-forward, to a Service and to
// a Pod, over WebSockets (kubectl's default, translated to SPDY by the API
// server) and over SPDY: two connections at once, 8 MiB each way.
func TestPortForward(t *testing.T) {
	c := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k := c.Client()
	const ns = "portforward"
	svc, pod := kvPod(ns, "kv")
	for _, o := range []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, svc, pod} {
		if err := k.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitRunningReady(t, k, ns, "kv-0", 60*time.Second)

	t.Run("service over websockets", func(t *testing.T) {
		// svc/kv port 80 → the Pod's port named api (8080).
		addr := portForward(t, c, nil, "-n", ns, "svc/kv", ":80")
		checkForward(ctx, t, addr, "ws")
	})
	t.Run("pod over spdy", func(t *testing.T) {
		addr := portForward(t, c, []string{"KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}, "-n", ns, "pod/kv-0", ":8080")
		checkForward(ctx, t, addr, "spdy")
	})
	t.Run("nothing listening", func(t *testing.T) {
		addr := portForward(t, c, nil, "-n", ns, "pod/kv-0", ":9")
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		if n, err := conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("a forward to a closed port: read %d bytes, %v; want the connection closed", n, err)
		}
	})
}

// checkForward writes and reads back two 8 MiB values through the
// forwarded address, the first connection held open mid-request while the
// second one runs.
func checkForward(ctx context.Context, t *testing.T, addr, prefix string) {
	t.Helper()
	const size = 8 << 20
	valA, valB := randomBytes(size, 1), randomBytes(size, 2)

	// Connection A: a PUT whose body stops halfway.
	a, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_ = a.SetDeadline(time.Now().Add(90 * time.Second))
	if _, err := fmt.Fprintf(a, "PUT /keys/%s-a HTTP/1.1\r\nHost: kv\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", prefix, size); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write(valA[:size/2]); err != nil {
		t.Fatal(err)
	}

	// Connection B, meanwhile: a whole PUT and GET.
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	cl, err := yzmaclient.New("http://"+addr, yzmaclient.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Put(ctx, prefix+"-b", valB, "application/octet-stream"); err != nil {
		t.Fatalf("PUT %s-b while another connection is open: %v", prefix, err)
	}
	var got bytes.Buffer
	if _, err := cl.GetRaw(ctx, prefix+"-b", &got); err != nil {
		t.Fatalf("GET %s-b: %v", prefix, err)
	}
	if !bytes.Equal(got.Bytes(), valB) {
		t.Fatalf("GET %s-b: %d bytes, not the %d written", prefix, got.Len(), size)
	}

	// A finishes.
	if _, err := a.Write(valA[size/2:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(a), nil)
	if err != nil {
		t.Fatalf("PUT %s-a: %v", prefix, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT %s-a: %s", prefix, resp.Status)
	}
	got.Reset()
	if _, err := cl.GetRaw(ctx, prefix+"-a", &got); err != nil {
		t.Fatalf("GET %s-a: %v", prefix, err)
	}
	if !bytes.Equal(got.Bytes(), valA) {
		t.Fatalf("GET %s-a: %d bytes, not the %d written", prefix, got.Len(), size)
	}
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

var forwarding = regexp.MustCompile(`^Forwarding from (127\.0\.0\.1:\d+) -> \d+`)

// portForward runs kubectl port-forward ARGS (with env added) until the
// test ends and returns the local address it listens on.
func portForward(t *testing.T, c *localcluster.Cluster, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl"),
		append([]string{"--kubeconfig=" + c.Kubeconfig(), "port-forward", "--address=127.0.0.1"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrCh := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := bufio.NewScanner(stdout)
		for s.Scan() { // keep reading: kubectl logs every connection
			if m := forwarding.FindStringSubmatch(s.Text()); m != nil {
				select {
				case addrCh <- m[1]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("kubectl port-forward %s: stderr:\n%s", strings.Join(args, " "), stderr.String())
		}
	})
	select {
	case addr := <-addrCh:
		return addr
	case <-done:
		t.Fatalf("kubectl port-forward %s ended: %s", strings.Join(args, " "), stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("kubectl port-forward %s: not forwarding within 30s: %s", strings.Join(args, " "), stderr.String())
	}
	return ""
}
