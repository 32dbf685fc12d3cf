package e2e

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/testwait"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/envconf"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
	nodeclient "github.com/yzma/yzma/node/client"
	"github.com/yzma/yzma/node/creds"
)

// kube is what the journey's steps use to reach the cluster and the nodes.
type kube struct {
	client.Client
	cfg *rest.Config
	hc  *http.Client

	mu      sync.Mutex
	clients map[string]*http.Client // by pod name and CA: HTTPS clients of pod IPs
}

// access is what a user takes from the operator's Secrets to reach the
// nodes: the cluster CA that proves them and a read-write token.
type access struct {
	token string
	ca    []byte
}

// access reads the sample's generated auth and TLS Secrets.
func (k *kube) access(t *testing.T) access {
	t.Helper()
	return k.accessOf(t, sample)
}

// accessOf reads the generated auth and TLS Secrets of a cluster.
func (k *kube) accessOf(t *testing.T, cluster string) access {
	t.Helper()
	var auth, certs corev1.Secret
	for _, s := range []struct {
		name string
		into *corev1.Secret
	}{{cluster + "-auth", &auth}, {cluster + "-tls", &certs}} {
		if err := k.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: s.name}, s.into); err != nil {
			t.Fatalf("the operator's Secret %s: %v", s.name, err)
		}
	}
	tok, err := creds.FirstReadWrite(auth.Data["tokens"])
	if err != nil {
		t.Fatalf("Secret %s-auth: %v", cluster, err)
	}
	return access{token: tok, ca: certs.Data["ca.crt"]}
}

// tlsConfig verifies a node's certificate for serverName against the CA.
func (a access) tlsConfig(t *testing.T, serverName string) *tls.Config {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(a.ca) {
		t.Fatal("the TLS Secret's ca.crt holds no certificate")
	}
	return &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
}

// podDNSName is the name a node's certificate is checked against: its pod
// under its cluster's headless Service.
func podDNSName(pod string) string {
	return pod + "." + clusterOf(pod) + "-peers." + ns + ".svc.cluster.local"
}

// clusterOf is the YzmaCluster of a node pod: its name without the ordinal.
func clusterOf(pod string) string { return pod[:max(strings.LastIndexByte(pod, '-'), 0)] }

// labelsOf select the node pods of a cluster.
func labelsOf(cluster string) map[string]string {
	return map[string]string{"app.kubernetes.io/name": "yzma", "app.kubernetes.io/instance": cluster}
}

// podClient is an HTTPS client of one pod's IP, verifying its name.
func (k *kube) podClient(t *testing.T, a access, pod string) *http.Client {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := pod + "\x00" + string(a.ca)
	if hc, ok := k.clients[key]; ok {
		return hc
	}
	if k.clients == nil {
		k.clients = map[string]*http.Client{}
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: a.tlsConfig(t, podDNSName(pod))}}
	k.clients[key] = hc
	return hc
}

func newKube(t *testing.T, cfg *envconf.Config) *kube {
	t.Helper()
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(yzmav1.AddToScheme(scheme))
	rc := rest.CopyConfig(cfg.Client().RESTConfig())
	rc.QPS, rc.Burst = 50, 100
	c, err := client.New(rc, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	return &kube{Client: c, cfg: rc, hc: hc}
}

// nodeAPIs returns a client of each current pod's HTTP API, with the
// token of the operator's Secret: through the API server's pod proxy (the
// way in from outside a cluster, like kubectl port-forward) where the
// platform allows it, else at the pod's IP over HTTPS, verifying the
// pod's certificate by name against the cluster CA.
func (k *kube) nodeAPIs(t *testing.T, ns string) map[string]*nodeclient.Client {
	t.Helper()
	return k.nodeAPIsWith(t, ns, k.access(t))
}

// nodeAPIsWith is nodeAPIs with the given CA and token.
func (k *kube) nodeAPIsWith(t *testing.T, ns string, a access) map[string]*nodeclient.Client {
	t.Helper()
	return k.nodeAPIsOf(t, ns, sample, a)
}

// nodeAPIsOf is nodeAPIsWith for the pods of another cluster.
func (k *kube) nodeAPIsOf(t *testing.T, ns, cluster string, a access) map[string]*nodeclient.Client {
	t.Helper()
	out := map[string]*nodeclient.Client{}
	for _, p := range k.pods(t, ns, labelsOf(cluster)) {
		base, hc := fmt.Sprintf("%s/api/v1/namespaces/%s/pods/https:%s:8080/proxy", strings.TrimSuffix(k.cfg.Host, "/"), ns, p.Name), k.hc
		if !plat.podProxy() {
			if p.Status.PodIP == "" {
				continue
			}
			base, hc = "https://"+net.JoinHostPort(p.Status.PodIP, "8080"), k.podClient(t, a, p.Name)
		}
		tok := nodeclient.WithBearerToken(a.token)
		if plat.podProxy() {
			tok = nodeclient.WithTokenHeader(a.token) // the API server keeps Authorization
		}
		c, err := nodeclient.New(base, nodeclient.WithHTTPClient(hc), tok)
		if err != nil {
			t.Fatal(err)
		}
		out[p.Name] = c
	}
	return out
}

// nodeAPI is nodeAPIs' client of one pod, of the sample or another
// cluster, with that cluster's CA and token.
func (k *kube) nodeAPI(t *testing.T, ns, pod string) *nodeclient.Client {
	t.Helper()
	cluster := clusterOf(pod)
	c := k.nodeAPIsOf(t, ns, cluster, k.accessOf(t, cluster))[pod]
	if c == nil {
		t.Fatalf("pod %s has no address", pod)
	}
	return c
}

func (k *kube) cluster(t *testing.T, ns, name string) *yzmav1.YzmaCluster {
	t.Helper()
	var c yzmav1.YzmaCluster
	if err := k.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &c); err != nil {
		t.Fatalf("get YzmaCluster: %v", err)
	}
	return &c
}

func (k *kube) pods(t *testing.T, ns string, labels map[string]string) []corev1.Pod {
	t.Helper()
	var list corev1.PodList
	if err := k.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
		t.Fatalf("list pods: %v", err)
	}
	return list.Items
}

// writeKeys writes each key (its value is the key) to a pod pick chooses,
// 8 at a time, retrying a write a pod refuses for a moment.
func (k *kube) writeKeys(t *testing.T, ns string, keys []string, pick func(i int) string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nodes := k.nodeAPIs(t, ns)
	work := make(chan int)
	errs := make(chan error, len(keys))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range work {
				pod := pick(i)
				err := retry(ctx, func() error {
					c := nodes[pod]
					if c == nil {
						return fmt.Errorf("no pod %s", pod)
					}
					_, err := c.Put(ctx, keys[i], []byte(keys[i]), "text/plain")
					return err
				})
				if err != nil {
					errs <- fmt.Errorf("put %s on %s: %w", keys[i], pod, err)
				}
			}
		})
	}
	for i := range keys {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// missingKeys returns the keys pod does not hold (with the right value).
func (k *kube) missingKeys(t *testing.T, ns, pod string, keys []string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	node := k.nodeAPI(t, ns, pod)
	var mu sync.Mutex
	var missing []string
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for key := range work {
				v, err := node.Get(ctx, key)
				if err != nil || string(v.Data) != key {
					mu.Lock()
					missing = append(missing, key)
					mu.Unlock()
				}
			}
		})
	}
	for _, key := range keys {
		work <- key
	}
	close(work)
	wg.Wait()
	return missing
}

// holdsAll waits until pod holds every key.
func (k *kube) holdsAll(t *testing.T, ns, pod string, keys []string, timeout time.Duration) {
	t.Helper()
	var missing []string
	waitFor(t, fmt.Sprintf("%s to hold all %d keys", pod, len(keys)), timeout, func() bool {
		missing = k.missingKeys(t, ns, pod, keys)
		return len(missing) == 0
	}, func() string { return fmt.Sprintf("%d missing, e.g. %v", len(missing), missing[:min(5, len(missing))]) })
}

// retry runs f until it succeeds, for up to 30 s.
func retry(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitFor polls cond every 200 ms until it holds or timeout passes; detail,
// if given, describes the last state on failure.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool, detail ...func() string) {
	t.Helper()
	testwait.For(t, what, timeout, 200*time.Millisecond, cond, detail...)
}

// keyRange names n keys with a prefix.
func keyRange(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return keys
}

// randomPod picks one of n pods of the cluster at random.
func randomPod(name string, n int) func(int) string {
	return func(int) string { return fmt.Sprintf("%s-%d", name, rand.IntN(n)) }
}

// writer writes keys to random ready pods in the background, looking the
// pods up again as they restart, until stop; each write is retried for up
// to 30 s. It records the keys whose write was acknowledged.
type writer struct {
	stopCh chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	acked  []string
	failed []error
}

// startWriter starts a writer of keys prefix-N with 4 workers, each pausing
// pause between writes (at most 4/pause writes/s); it writes at most max
// keys.
func (k *kube) startWriter(t *testing.T, ns, prefix string, max int, pause time.Duration) *writer {
	w := &writer{stopCh: make(chan struct{})}
	var next sync.Mutex
	n := 0
	var nodes map[string]*nodeclient.Client
	var looked time.Time
	current := func() []*nodeclient.Client {
		next.Lock()
		defer next.Unlock()
		if time.Since(looked) > time.Second {
			nodes, looked = k.nodeAPIs(t, ns), time.Now()
		}
		return slices.Collect(maps.Values(nodes))
	}
	key := func() (string, bool) {
		next.Lock()
		defer next.Unlock()
		if n >= max {
			return "", false
		}
		n++
		return fmt.Sprintf("%s-%05d", prefix, n), true
	}
	for range 4 {
		w.wg.Go(func() {
			for {
				select {
				case <-w.stopCh:
					return
				case <-time.After(pause):
				}
				k, ok := key()
				if !ok {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
				err := retry(ctx, func() error {
					cs := current()
					if len(cs) == 0 {
						return fmt.Errorf("no pod")
					}
					wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
					defer wcancel()
					_, err := cs[rand.IntN(len(cs))].Put(wctx, k, []byte(k), "text/plain")
					return err
				})
				cancel()
				w.mu.Lock()
				if err == nil {
					w.acked = append(w.acked, k)
				} else {
					w.failed = append(w.failed, fmt.Errorf("put %s: %w", k, err))
				}
				w.mu.Unlock()
			}
		})
	}
	return w
}

// stop ends the writes and returns the acknowledged keys and the writes
// that failed for good.
func (w *writer) stop() ([]string, []error) {
	close(w.stopCh)
	w.wg.Wait()
	return w.acked, w.failed
}

// portForward runs `kubectl port-forward target :port` (through the API
// server, as a user does) until the test ends, and returns the local
// address it listens on.
func portForward(ctx context.Context, t *testing.T, target string, port int) string {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	cmd, err := plat.kubectlCmd(ctx, "-n", ns, "port-forward", "--address=127.0.0.1", target, fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("kubectl port-forward %s: %v", target, err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() }) // killed: its exit status says nothing
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() { // "Forwarding from 127.0.0.1:41234 -> 8080"
			if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "Forwarding" {
				addr <- f[2]
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case a := <-addr:
		return a
	case <-time.After(30 * time.Second):
		t.Fatalf("kubectl port-forward %s: no local address in 30 s: %s", target, stderr.String())
		return ""
	}
}

// execYzmactl runs `kubectl exec [-i] pod -- /yzmactl args…` with stdin
// (nil: none) and returns its output and exit code.
func execYzmactl(ctx context.Context, t *testing.T, pod string, stdin io.Reader, args ...string) (string, int) {
	t.Helper()
	kargs := []string{"-n", ns, "exec"}
	if stdin != nil {
		kargs = append(kargs, "-i")
	}
	cmd, err := plat.kubectlCmd(ctx, append(append(kargs, pod, "--", "/yzmactl"), args...)...)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return stdout.String() + stderr.String(), exit.ExitCode()
	case err != nil:
		t.Fatalf("kubectl exec %s: %v", pod, err)
	}
	return stdout.String(), 0
}

// unauthenticated is the status of a GET of url without a token.
func unauthenticated(ctx context.Context, t *testing.T, hc *http.Client, url string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// randomHex is a new secret, as the operator generates them.
func randomHex(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := crand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// randomKey is a new gossip key.
func randomKey(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := crand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}
