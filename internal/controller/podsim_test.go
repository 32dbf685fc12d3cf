package controller

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// Ports of the real nodes the simulated pods run; each pod has its own
// loopback IP, so every pod uses the same ports, as in Kubernetes.
const (
	simHTTPPort   = 18080
	simGossipPort = 17946
)

var simSubnet atomic.Int32 // gives each podSim its own 127.77.N.0/24

// podSim stands in for the StatefulSet controller and the kubelet, which
// envtest does not run (the local cluster of internal/localcluster runs the
// real ones): it keeps pods 0..replicas-1 of one cluster's StatefulSet,
// creating the lowest missing one and deleting the highest extra one, and
// marks them Running with a loopback IP. With real set, each pod runs a
// real node process and is Ready when its /readyz says so; otherwise every
// pod is Ready at once.
type podSim struct {
	t     *testing.T
	c     *yzmav1.YzmaCluster
	real  bool
	net   int32
	dir   string
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	procs map[string]*exec.Cmd
	held  map[string]bool // pods the test keeps missing
	// pending pods never start (an unschedulable pod, an image that
	// cannot be pulled); unready ones run but are not ready (a crash loop).
	pending, unready map[string]bool
	trail            []string // "create X" / "delete X", in order
}

func startPodSim(t *testing.T, c *yzmav1.YzmaCluster, real bool) *podSim {
	if real {
		needNodeBinary(t)
	}
	s := &podSim{
		t: t, c: c, real: real, net: simSubnet.Add(1), dir: t.TempDir(),
		stop: make(chan struct{}), done: make(chan struct{}),
		procs: map[string]*exec.Cmd{}, held: map[string]bool{},
		pending: map[string]bool{}, unready: map[string]bool{},
	}
	go s.loop()
	t.Cleanup(s.close)
	return s
}

func (s *podSim) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for name := range s.procs {
		s.kill(name)
	}
}

// ip is the pod IP of ordinal.
func (s *podSim) ip(ordinal int32) string { return fmt.Sprintf("127.77.%d.%d", s.net, ordinal+1) }

// url is the HTTP API of ordinal's node.
func (s *podSim) url(ordinal int32) string {
	return fmt.Sprintf("http://%s:%d", s.ip(ordinal), simHTTPPort)
}

// hold keeps pod name missing (deleting it if it exists) until release.
func (s *podSim) hold(name string) {
	s.mu.Lock()
	s.held[name] = true
	s.mu.Unlock()
}

func (s *podSim) release(name string) {
	s.mu.Lock()
	delete(s.held, name)
	s.mu.Unlock()
}

// setPending makes pod name never start, or lets it start again.
func (s *podSim) setPending(name string, v bool) {
	s.mu.Lock()
	s.pending[name] = v
	s.mu.Unlock()
}

// setUnready makes pod name run but not be ready, or lets it be ready.
func (s *podSim) setUnready(name string, v bool) {
	s.mu.Lock()
	s.unready[name] = v
	s.mu.Unlock()
}

// events returns the create/delete trail so far.
func (s *podSim) events() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.trail...)
}

func (s *podSim) loop() {
	defer close(s.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		if err := s.step(context.Background()); err != nil && !apierrors.IsConflict(err) {
			s.t.Logf("podsim: %v", err)
		}
	}
}

// step makes one change towards the StatefulSet's replicas and refreshes
// the pods' status.
func (s *podSim) step(ctx context.Context) error {
	var sts appsv1.StatefulSet
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: s.c.Namespace, Name: stsName(s.c)}, &sts); err != nil {
		return client.IgnoreNotFound(err)
	}
	want := ptr.Deref(sts.Spec.Replicas, 1)
	var pods corev1.PodList
	if err := k8s.List(ctx, &pods, client.InNamespace(s.c.Namespace), client.MatchingLabels(selectorLabels(s.c))); err != nil {
		return err
	}
	have := map[int32]*corev1.Pod{}
	for i := range pods.Items {
		if o, ok := podOrdinal(s.c, pods.Items[i].Name); ok {
			have[o] = &pods.Items[i]
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Finish deletions (as a kubelet would), remove held pods and the
	// highest extra one.
	for _, pod := range have {
		if s.held[pod.Name] || pod.DeletionTimestamp != nil {
			return s.deletePod(ctx, pod)
		}
	}
	for o := int32(len(have)) + want; o >= want; o-- {
		if pod := have[o]; pod != nil {
			return s.deletePod(ctx, pod)
		}
	}
	// Create the lowest missing pod once all below it are ready.
	for o := range want {
		pod := have[o]
		if pod == nil {
			if s.held[podName(s.c, o)] {
				return nil
			}
			return s.createPod(ctx, &sts, o)
		}
		if err := s.refresh(ctx, pod, o); err != nil {
			return err
		}
		if !podReady(pod) {
			return nil
		}
	}
	return nil
}

func (s *podSim) createPod(ctx context.Context, sts *appsv1.StatefulSet, o int32) error {
	name := podName(s.c, o)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.c.Namespace, Name: name, Labels: sts.Spec.Template.Labels},
		Spec:       *sts.Spec.Template.Spec.DeepCopy(),
	}
	pod.Spec.Hostname, pod.Spec.Subdomain = name, sts.Spec.ServiceName
	for _, claim := range sts.Spec.VolumeClaimTemplates { // as the StatefulSet controller does
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: claim.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name + "-" + name},
		}})
	}
	if err := k8s.Create(ctx, pod); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	s.trail = append(s.trail, "create "+name)
	if s.real && !s.pending[name] {
		s.startNode(o)
	}
	return s.refresh(ctx, pod, o)
}

func (s *podSim) deletePod(ctx context.Context, pod *corev1.Pod) error {
	s.kill(pod.Name)
	if err := k8s.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", pod.Name, err)
	}
	s.trail = append(s.trail, "delete "+pod.Name)
	return nil
}

// refresh writes the pod's status: Running with its IP, Ready when its
// node answers /readyz (or at once without real nodes).
func (s *podSim) refresh(ctx context.Context, pod *corev1.Pod, o int32) error {
	if s.pending[pod.Name] {
		return nil // never scheduled: no status at all
	}
	ready := (!s.real || s.readyz(o)) && !s.unready[pod.Name]
	if pod.Status.Phase == corev1.PodRunning && podReady(pod) == ready && pod.Status.PodIP == s.ip(o) {
		return nil
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = s.ip(o)
	pod.Status.PodIPs = []corev1.PodIP{{IP: s.ip(o)}}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}}
	if err := k8s.Status().Update(ctx, pod); err != nil {
		return fmt.Errorf("pod %s status: %w", pod.Name, err)
	}
	return nil
}

func (s *podSim) readyz(o int32) bool {
	hc := http.Client{Timeout: time.Second}
	resp, err := hc.Get(s.url(o) + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// startNode runs the node of ordinal o, its data file kept across restarts
// like a claim; every node but the first joins the first.
func (s *podSim) startNode(o int32) {
	name := podName(s.c, o)
	cmd := exec.Command(nodeBin)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"YZMA_PEERING_NAME=" + name,
		fmt.Sprintf("YZMA_API_BIND=%s:%d", s.ip(o), simHTTPPort),
		"YZMA_PEERING_BIND_ADDR=" + s.ip(o),
		fmt.Sprintf("YZMA_PEERING_BIND_PORT=%d", simGossipPort),
		"YZMA_DB_PATH=" + filepath.Join(s.dir, name+".db"),
	}
	if o > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("YZMA_PEERING_JOIN=%s:%d", s.ip(0), simGossipPort))
	}
	logf, err := os.Create(filepath.Join(s.dir, name+".log"))
	if err != nil {
		s.t.Errorf("node log: %v", err)
		return
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Errorf("start node %s: %v", name, err)
		_ = logf.Close() // nothing was written
		return
	}
	go func() { _ = cmd.Wait(); _ = logf.Close() }() // a test log: a lost tail only hurts debugging
	s.procs[name] = cmd
}

// kill stops the pod's node at once, as a deleted pod's container would
// end after a leave.
func (s *podSim) kill(name string) {
	if cmd := s.procs[name]; cmd != nil {
		_ = cmd.Process.Kill()
		delete(s.procs, name)
	}
}
