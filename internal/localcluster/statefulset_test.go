package localcluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/yzma/yzma/internal/localcluster"
	yzmaclient "github.com/yzma/yzma/node/client"
)

// yzmaStatefulSet is a Yzma cluster as the operator will deploy it: a
// headless Service publishing not-ready addresses (the seed DNS name) and
// a StatefulSet of node processes with one claim each.
func yzmaStatefulSet(ns string, replicas int32) (*corev1.Service, *appsv1.StatefulSet) {
	labels := map[string]string{"app": "yzma"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "yzma"},
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 labels,
			Ports: []corev1.ServicePort{
				{Name: "api", Port: 8080, TargetPort: intstr.FromString("api")},
				{Name: "gossip", Port: 7946, TargetPort: intstr.FromString("gossip")},
			},
		},
	}
	probe := func(path string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("api")}},
			PeriodSeconds:    period,
			FailureThreshold: failures,
			TimeoutSeconds:   2,
		}
	}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "yzma"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(replicas),
			ServiceName: "yzma",
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](30),
					Containers: []corev1.Container{{
						Name:  "yzma",
						Image: "ghcr.io/yzma/yzma:dev",
						// Ignored in favour of the mapped binary.
						Command: []string{"/usr/local/bin/node"},
						Env: []corev1.EnvVar{
							{Name: "YZMA_PEERING_NAME", ValueFrom: &corev1.EnvVarSource{
								FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
							{Name: "YZMA_PEERING_SEED_DNS", Value: "yzma." + ns + ".svc.cluster.local"},
							{Name: "YZMA_API_BIND", Value: ":8080"},
							{Name: "YZMA_PEERING_BIND_PORT", Value: "7946"},
							{Name: "YZMA_DB_PATH", Value: "/var/lib/yzma/yzma.db"},
						},
						Ports: []corev1.ContainerPort{
							{Name: "api", ContainerPort: 8080},
							{Name: "gossip", ContainerPort: 7946},
						},
						VolumeMounts:   []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/yzma"}},
						ReadinessProbe: probe("/readyz", 1, 3),
						LivenessProbe:  probe("/healthz", 2, 3),
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
					},
				},
			}},
		},
	}
	return svc, sts
}

func TestStatefulSet(t *testing.T) {
	c := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	k := c.Client()
	const ns = "yzma-sts"
	began := time.Now()
	step := func(format string, args ...any) {
		t.Logf("%6.1fs "+format, append([]any{time.Since(began).Seconds()}, args...)...)
	}

	if err := k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	svc, sts := yzmaStatefulSet(ns, 3)
	if err := k.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if err := k.Create(ctx, sts); err != nil {
		t.Fatal(err)
	}

	// Every replica runs, is ready and has its own loopback address.
	var pods [3]corev1.Pod
	eventually(t, 90*time.Second, "3 pods Running and Ready", func(ctx context.Context) error {
		for i := range pods {
			if err := k.Get(ctx, types.NamespacedName{Namespace: ns, Name: fmt.Sprintf("yzma-%d", i)}, &pods[i]); err != nil {
				return err
			}
			if err := runningReady(&pods[i]); err != nil {
				return err
			}
		}
		return nil
	})
	step("3 pods Running and Ready")
	seen := map[string]bool{}
	var ips []string
	for _, p := range pods {
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil || !ip.IsLoopback() || ip == netip.MustParseAddr("127.0.0.1") {
			t.Errorf("pod %s: podIP %q is not a loopback address other than 127.0.0.1", p.Name, p.Status.PodIP)
		}
		if seen[p.Status.PodIP] {
			t.Errorf("pod %s: podIP %s used twice", p.Name, p.Status.PodIP)
		}
		seen[p.Status.PodIP] = true
		ips = append(ips, p.Status.PodIP)
		if p.Status.HostIP != "127.0.0.1" || len(p.Status.PodIPs) != 1 || p.Status.PodIPs[0].IP != p.Status.PodIP {
			t.Errorf("pod %s: hostIP %q podIPs %v", p.Name, p.Status.HostIP, p.Status.PodIPs)
		}
		if p.Spec.NodeName != c.NodeName() {
			t.Errorf("pod %s: bound to %q", p.Name, p.Spec.NodeName)
		}
	}

	// Each claim is bound, and its directory holds the node's data file.
	for i := range pods {
		name := fmt.Sprintf("data-yzma-%d", i)
		var pvc corev1.PersistentVolumeClaim
		if err := k.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &pvc); err != nil {
			t.Fatal(err)
		}
		if pvc.Status.Phase != corev1.ClaimBound {
			t.Errorf("pvc %s: phase %s", name, pvc.Status.Phase)
		}
		dir, err := c.PVCDir(ctx, ns, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir + "/yzma.db"); err != nil {
			t.Errorf("pvc %s: the node's data file is not in the claim's directory: %v", name, err)
		}
	}

	// The DNS server answers the Service and the Pods' names.
	gotIPs, rcode := lookup(t, c.DNSAddr(), "yzma."+ns+".svc.cluster.local.")
	slices.Sort(gotIPs)
	want := slices.Sorted(slices.Values(ips))
	if rcode != dns.RcodeSuccess || !slices.Equal(gotIPs, want) {
		t.Errorf("yzma.%s.svc.cluster.local = %v (rcode %d), want %v", ns, gotIPs, rcode, want)
	}
	if got, _ := lookup(t, c.DNSAddr(), "yzma-1.yzma."+ns+".svc.cluster.local."); !slices.Equal(got, []string{ips[1]}) {
		t.Errorf("yzma-1.yzma.%s.svc.cluster.local = %v, want %s", ns, got, ips[1])
	}
	if _, rcode := lookup(t, c.DNSAddr(), "nope."+ns+".svc.cluster.local."); rcode != dns.RcodeNameError {
		t.Errorf("unknown service: rcode %d, want NXDOMAIN", rcode)
	}
	// Code in the test process reaches pods by name through DialContext.
	hc := &http.Client{Transport: &http.Transport{DialContext: c.DialContext}, Timeout: 5 * time.Second}
	resp, err := hc.Get("http://yzma-2.yzma." + ns + ".svc.cluster.local:8080/readyz")
	if err != nil {
		t.Fatalf("GET yzma-2 by name: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET yzma-2/readyz by name: %s", resp.Status)
	}

	// A write on one pod is read on another.
	api := func(i int) *yzmaclient.Client {
		cl, err := yzmaclient.New("http://" + ips[i] + ":8080")
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	if _, err := api(0).Put(ctx, "greeting", []byte("hello"), "text/plain"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the write replicated to yzma-2", func(ctx context.Context) error {
		v, err := api(2).Get(ctx, "greeting")
		if err == nil && string(v.Data) != "hello" {
			err = fmt.Errorf("read %q", v.Data)
		}
		return err
	})
	step("write replicated")

	// kubectl logs goes through the API server to the kubelet.
	out, err := c.Kubectl(ctx, "logs", "-n", ns, "yzma-0", "--tail=1000")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("node started")) {
		t.Errorf("kubectl logs yzma-0 lacks %q:\n%s", "node started", out)
	}

	// A killed process is restarted, its restartCount incremented.
	proc, err := c.PodProcess(ns, "yzma-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "yzma-1 restarted and Ready", func(ctx context.Context) error {
		var p corev1.Pod
		if err := k.Get(ctx, types.NamespacedName{Namespace: ns, Name: "yzma-1"}, &p); err != nil {
			return err
		}
		if n := p.Status.ContainerStatuses[0].RestartCount; n != 1 {
			return fmt.Errorf("restartCount %d", n)
		}
		if last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated; last == nil || last.ExitCode != 137 {
			return fmt.Errorf("last termination %+v, want exit code 137", last)
		}
		return runningReady(&p)
	})
	if now, err := c.PodProcess(ns, "yzma-1"); err != nil || now.PID == proc.PID || now.RestartCount != 1 {
		t.Errorf("after the restart: process %+v, %v (was pid %d)", now, err, proc.PID)
	}
	if v, err := api(1).Get(ctx, "greeting"); err != nil || string(v.Data) != "hello" {
		t.Errorf("restarted yzma-1 lost its data: %q, %v", v.Data, err)
	}
	step("SIGKILLed process restarted")

	// A re-created pod gets a new address but the same claim directory.
	dir0, err := c.PVCDir(ctx, ns, "data-yzma-0")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Delete(ctx, &pods[0]); err != nil {
		t.Fatal(err)
	}
	var again corev1.Pod
	eventually(t, 40*time.Second, "yzma-0 re-created and Ready", func(ctx context.Context) error {
		if err := k.Get(ctx, types.NamespacedName{Namespace: ns, Name: "yzma-0"}, &again); err != nil {
			return err
		}
		if again.UID == pods[0].UID {
			return errors.New("still the old pod")
		}
		return runningReady(&again)
	})
	if again.Status.PodIP == ips[0] {
		t.Errorf("re-created yzma-0 kept the address %s", ips[0])
	}
	ips[0] = again.Status.PodIP
	if p, err := c.PodProcess(ns, "yzma-0"); err != nil || envOf(p.Env, "YZMA_DB_PATH") != dir0+"/yzma.db" {
		t.Errorf("re-created yzma-0: YZMA_DB_PATH=%q (err %v), want %s/yzma.db", envOf(p.Env, "YZMA_DB_PATH"), err, dir0)
	}
	if v, err := api(0).Get(ctx, "greeting"); err != nil || string(v.Data) != "hello" {
		t.Errorf("re-created yzma-0: %q, %v", v.Data, err)
	}
	step("yzma-0 re-created with its claim")

	// Scaling down stops the highest pod with SIGTERM; its claim and
	// directory stay until the claim is deleted.
	last, err := c.PodProcess(ns, "yzma-2")
	if err != nil {
		t.Fatal(err)
	}
	dir2, err := c.PVCDir(ctx, ns, "data-yzma-2")
	if err != nil {
		t.Fatal(err)
	}
	var cur appsv1.StatefulSet
	if err := k.Get(ctx, client.ObjectKeyFromObject(sts), &cur); err != nil {
		t.Fatal(err)
	}
	cur.Spec.Replicas = ptr.To[int32](2)
	if err := k.Update(ctx, &cur); err != nil {
		t.Fatal(err)
	}
	scaled := time.Now()
	eventually(t, 25*time.Second, "yzma-2 deleted", func(ctx context.Context) error {
		return gone(ctx, k, &corev1.Pod{}, ns, "yzma-2")
	})
	step("scaled down in %s", time.Since(scaled).Round(time.Millisecond))
	logged, err := os.ReadFile(last.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(logged, []byte("shutting down")) || !bytes.Contains(logged, []byte("data file closed")) {
		t.Errorf("yzma-2 did not shut down on SIGTERM; its log:\n%s", logged)
	}
	if _, err := c.PodProcess(ns, "yzma-2"); !errors.Is(err, localcluster.ErrNoProcess) {
		t.Errorf("yzma-2's process after deletion: %v", err)
	}
	if _, err := os.Stat(dir2); err != nil {
		t.Fatalf("the claim's directory went with the pod: %v", err)
	}
	if err := k.Delete(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "data-yzma-2"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "data-yzma-2's directory removed", func(ctx context.Context) error {
		if _, err := os.Stat(dir2); !os.IsNotExist(err) {
			return fmt.Errorf("%s: %v", dir2, err)
		}
		return nil
	})
	step("claim deleted, directory removed")

	// Deleting the StatefulSet garbage-collects its pods.
	if err := k.Delete(ctx, &cur); err != nil {
		t.Fatal(err)
	}
	eventually(t, 40*time.Second, "pods garbage-collected", func(ctx context.Context) error {
		var list corev1.PodList
		if err := k.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(list.Items) > 0 {
			return fmt.Errorf("%d pods left", len(list.Items))
		}
		return nil
	})
	for i := range 2 {
		if _, err := c.PodProcess(ns, fmt.Sprintf("yzma-%d", i)); !errors.Is(err, localcluster.ErrNoProcess) {
			t.Errorf("yzma-%d's process after deletion: %v", i, err)
		}
	}
	step("StatefulSet deleted, pods gone")
}

// runningReady checks a pod is Running with every container ready.
func runningReady(p *corev1.Pod) error {
	if p.Status.Phase != corev1.PodRunning {
		return fmt.Errorf("pod %s: phase %q", p.Name, p.Status.Phase)
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
			for _, cs := range p.Status.ContainerStatuses {
				if !cs.Ready {
					return fmt.Errorf("pod %s: container %s not ready", p.Name, cs.Name)
				}
			}
			return nil
		}
	}
	return fmt.Errorf("pod %s: not Ready", p.Name)
}

// gone reports nil once the object does not exist.
func gone(ctx context.Context, k client.Client, obj client.Object, ns, name string) error {
	err := k.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		return fmt.Errorf("%s/%s still exists (deletionTimestamp %v)", ns, name, obj.GetDeletionTimestamp())
	}
	return err
}

// lookup asks the DNS server at addr for name's A records.
func lookup(t *testing.T, addr, name string) ([]string, int) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, err := dns.Exchange(m, addr)
	if err != nil {
		t.Fatalf("DNS %s: %v", name, err)
	}
	var ips []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	return ips, r.Rcode
}

// waitRunningReady waits until pod ns/name runs and is ready, and returns it.
func waitRunningReady(t *testing.T, k client.Client, ns, name string, timeout time.Duration) corev1.Pod {
	t.Helper()
	var p corev1.Pod
	eventually(t, timeout, "pod "+name+" Running and Ready", func(ctx context.Context) error {
		if err := k.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &p); err != nil {
			return err
		}
		return runningReady(&p)
	})
	return p
}
