package localcluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
)

// hostIP is every Pod's status.hostIP and the Node's address.
const hostIP = "127.0.0.1"

// kubelet runs the Pods bound to its Node as local processes.
type kubelet struct {
	c        client.Client // cached reads, writes
	api      client.Reader // uncached reads
	rec      recorder.EventRecorder
	log      *slog.Logger
	nodeName string
	podsDir  string
	imageMap map[string]string
	images   *imageStore // images from Options.ImageArchives; nil: none
	baseEnv  [][2]string // for every container, before the injected ones
	dnsAddr  string
	logPort  int
	ips      *ipPool
	grace    time.Duration // longest grace period on Stop

	mu       sync.Mutex
	pods     map[types.UID]*podRuntime
	stopping bool
	wg       sync.WaitGroup
}

func (k *kubelet) setup(mgr manager.Manager) error {
	return builder.ControllerManagedBy(mgr).
		Named("localcluster-kubelet").
		For(&corev1.Pod{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(k)
}

// registerNode creates the Node (once) and reports it Ready.
func (k *kubelet) registerNode(ctx context.Context) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: k.nodeName,
		Labels: map[string]string{
			"kubernetes.io/hostname": k.nodeName,
			"kubernetes.io/os":       runtime.GOOS,
			"kubernetes.io/arch":     runtime.GOARCH,
		},
	}}
	if err := k.c.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register node: %w", err)
	}
	return k.heartbeat(ctx)
}

// heartbeat writes the Node's status.
func (k *kubelet) heartbeat(ctx context.Context) error {
	var node corev1.Node
	if err := k.api.Get(ctx, types.NamespacedName{Name: k.nodeName}, &node); err != nil {
		return err
	}
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		c := corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
		for _, old := range node.Status.Conditions {
			if old.Type == t && old.Status == s {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		return c
	}
	cpu := resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI)
	mem := resource.NewQuantity(hostMemory, resource.BinarySI)
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: *cpu, corev1.ResourceMemory: *mem,
		corev1.ResourceEphemeralStorage: *mem, corev1.ResourcePods: resource.MustParse("250"),
	}
	node.Status = corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "localcluster process kubelet is posting ready status"),
		},
		// Only an IP: the API server reaches the kubelet (kubectl logs) at
		// the first usable address, and a Hostname would not resolve.
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: hostIP}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(k.logPort)}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID: "localcluster", SystemUUID: "localcluster", BootID: strconv.Itoa(os.Getpid()),
			KernelVersion: "", OSImage: "localcluster process kubelet",
			ContainerRuntimeVersion: "process://" + runtime.Version(),
			KubeletVersion:          "v1.37.2-localcluster",
			OperatingSystem:         runtime.GOOS, Architecture: runtime.GOARCH,
		},
	}
	return k.c.Status().Update(ctx, &node)
}

// heartbeats refreshes the Node's status every 20 s until ctx ends.
func (k *kubelet) heartbeats(ctx context.Context) {
	for sleepCtx(ctx, 20*time.Second) {
		if err := k.heartbeat(ctx); err != nil && ctx.Err() == nil {
			k.log.Warn("node heartbeat", "err", err)
		}
	}
}

func (k *kubelet) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var pod *corev1.Pod
	var p corev1.Pod
	switch err := k.c.Get(ctx, req.NamespacedName, &p); {
	case err == nil:
		pod = &p
	case !apierrors.IsNotFound(err):
		return reconcile.Result{}, err
	}

	// Runtimes of a Pod of this name that is gone, or was replaced by one
	// with another UID, were force-deleted: kill them at once.
	k.mu.Lock()
	var stale []*podRuntime
	for _, rt := range k.pods {
		if rt.key == req.NamespacedName && (pod == nil || rt.uid != pod.UID) {
			stale = append(stale, rt)
		}
	}
	k.mu.Unlock()
	for _, rt := range stale {
		rt.terminate(0, false, false)
	}
	if pod == nil {
		return reconcile.Result{}, nil
	}

	if pod.Spec.NodeName == "" {
		if pod.DeletionTimestamp != nil {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, k.bind(ctx, pod)
	}
	if pod.Spec.NodeName != k.nodeName {
		return reconcile.Result{}, nil
	}

	k.mu.Lock()
	rt := k.pods[pod.UID]
	stopping := k.stopping
	k.mu.Unlock()
	if pod.DeletionTimestamp != nil {
		if rt == nil {
			return reconcile.Result{}, k.deletePod(ctx, pod.Namespace, pod.Name, pod.UID)
		}
		rt.terminate(podGrace(pod), true, false)
		return reconcile.Result{}, nil
	}
	if rt != nil || stopping || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return reconcile.Result{}, nil
	}
	rt, err := newPodRuntime(k, pod)
	if err != nil {
		return reconcile.Result{}, err
	}
	k.mu.Lock()
	if k.stopping {
		k.mu.Unlock()
		k.ips.release(rt.ip)
		return reconcile.Result{}, nil
	}
	k.pods[pod.UID] = rt
	k.wg.Add(1)
	k.mu.Unlock()
	go func() {
		defer k.wg.Done()
		rt.run()
		k.mu.Lock()
		delete(k.pods, rt.uid)
		k.mu.Unlock()
		k.ips.release(rt.ip)
	}()
	return reconcile.Result{}, nil
}

// bind assigns an unscheduled Pod to this node, as the scheduler would.
func (k *kubelet) bind(ctx context.Context, pod *corev1.Pod) error {
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: k.nodeName},
	}
	err := k.c.SubResource("binding").Create(ctx, pod, b)
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil // bound meanwhile, or gone
	}
	if err != nil {
		return fmt.Errorf("bind pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	k.rec.Eventf(pod, nil, corev1.EventTypeNormal, "Scheduled", "Binding",
		"Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, k.nodeName)
	return nil
}

// deletePod removes a stopped Pod object for good (grace period 0), as the
// kubelet does once its containers are gone.
func (k *kubelet) deletePod(ctx context.Context, ns, name string, uid types.UID) error {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	err := k.c.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: ptr.To(uid)})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// podGrace is how long a deleted Pod's containers get between SIGTERM and
// SIGKILL.
func podGrace(pod *corev1.Pod) time.Duration {
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// stopAll stops every Pod's processes (SIGTERM, SIGKILL after at most
// k.grace) without touching the API, and starts no more.
func (k *kubelet) stopAll() {
	k.mu.Lock()
	k.stopping = true
	rts := make([]*podRuntime, 0, len(k.pods))
	for _, rt := range k.pods {
		rts = append(rts, rt)
	}
	k.mu.Unlock()
	for _, rt := range rts {
		rt.terminate(min(rt.specGrace, k.grace), false, true)
	}
	k.wg.Wait()
}

// runtimeFor finds the runtime of the Pod ns/name (the newest if several).
func (k *kubelet) runtimeFor(ns, name string) *podRuntime {
	k.mu.Lock()
	defer k.mu.Unlock()
	var rts []*podRuntime
	for _, rt := range k.pods {
		if rt.key.Namespace == ns && rt.key.Name == name {
			rts = append(rts, rt)
		}
	}
	if len(rts) == 0 {
		return nil
	}
	sort.Slice(rts, func(i, j int) bool { return rts[i].created.Before(rts[j].created) })
	return rts[len(rts)-1]
}
