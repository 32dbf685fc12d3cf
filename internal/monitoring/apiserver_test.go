package monitoring

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
	"github.com/yzma/yzma/internal/controller"
	"github.com/yzma/yzma/internal/kubetest"
	"github.com/yzma/yzma/internal/testwait"
	"github.com/yzma/yzma/node/api"
)

// The API server (real kube-apiserver and etcd from bin/k8s, see
// hack/k8s-bins.sh) with the YzmaCluster CRD and the Prometheus Operator's
// CRDs, started on first use as in internal/controller's suite.
var (
	testScheme = kubetest.NewScheme()
	apiServer  = &kubetest.Env{Scheme: testScheme, CRDDirs: []string{crdDir}}
	testCfg    *rest.Config
	k8s        client.Client
)

const crdDir = "testdata/prometheus-operator-crds"

func TestMain(m *testing.M) {
	kubetest.SetupLogger()
	code := m.Run()
	apiServer.Stop()
	os.Exit(code)
}

// needAPIServer starts the shared API server on first use.
func needAPIServer(t *testing.T) {
	t.Helper()
	testCfg, k8s = apiServer.Need(t)
}

// ensureNamespace creates a namespace unless it exists.
func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8s.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// dryRun creates obj in a server-side dry run with strict field
// validation: unknown or duplicate fields are errors, as are schema
// violations, and nothing is stored.
func dryRun(obj *unstructured.Unstructured) error {
	return k8s.Create(context.Background(), obj.DeepCopy(), client.DryRunAll, client.FieldValidation(metav1.FieldValidationStrict))
}

// TestManifestsAccepted renders config/prometheus and config/prometheus-auth
// (the same with the nodes' bearer token) and has the API server, with the
// Prometheus Operator's CRDs, accept every object.
func TestManifestsAccepted(t *testing.T) {
	needAPIServer(t)
	for _, dir := range []string{promDir, promAuthDir} {
		t.Run(filepath.Base(dir), func(t *testing.T) { manifestsAccepted(t, dir) })
	}
}

func manifestsAccepted(t *testing.T, dir string) {
	objs := kubetest.Kustomize(t, dir)
	if dir == promAuthDir {
		eps, _, _ := unstructured.NestedSlice(find(t, objs, "PodMonitor").Object, "spec", "podMetricsEndpoints")
		if len(eps) != 1 || eps[0].(map[string]any)["authorization"] == nil {
			t.Errorf("the PodMonitor of %s sends no token: %v", dir, eps)
		}
	}
	// Objects without a namespace go where kubectl applies them: the
	// YzmaClusters' namespace.
	clusterNS := newNamespace(t)
	kinds := map[string]int{}
	for _, obj := range objs {
		kinds[obj.GetKind()]++
		if obj.GetNamespace() == "" {
			obj.SetNamespace(clusterNS)
		} else {
			ensureNamespace(t, obj.GetNamespace())
		}
		if err := dryRun(obj); err != nil {
			t.Errorf("%s %s/%s refused: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
		} else {
			t.Logf("accepted %s %s/%s (%s)", obj.GetKind(), obj.GetNamespace(), obj.GetName(), obj.GetAPIVersion())
		}
	}
	want := map[string]int{"PodMonitor": 1, "ServiceMonitor": 1, "PrometheusRule": 1, "ConfigMap": 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s objects, want %d", kinds[k], k, n)
		}
	}
	if len(kinds) != len(want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}

	// The ConfigMap carries the dashboard file as it is.
	file, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range objs {
		if obj.GetKind() == "ConfigMap" {
			data, _, _ := unstructured.NestedString(obj.Object, "data", "yzma-dashboard.json")
			if data != string(file) {
				t.Errorf("ConfigMap %s: data[yzma-dashboard.json] is not %s", obj.GetName(), dashboardFile)
			}
			if obj.GetLabels()["grafana_dashboard"] != "1" {
				t.Errorf("ConfigMap %s: labels %v, want grafana_dashboard=1 for Grafana's sidecar", obj.GetName(), obj.GetLabels())
			}
		}
	}

	// The checks bite: the CRDs' schemas are enforced, unknown fields too.
	for name, mutate := range map[string]func(*unstructured.Unstructured) string{
		"misspelt field": func(u *unstructured.Unstructured) string {
			if u.GetKind() != "PodMonitor" {
				return ""
			}
			eps, _, _ := unstructured.NestedSlice(u.Object, "spec", "podMetricsEndpoints")
			ep := eps[0].(map[string]any)
			ep["bearerTokenSecrett"] = map[string]any{"name": "x", "key": "y"}
			_ = unstructured.SetNestedSlice(u.Object, eps, "spec", "podMetricsEndpoints")
			return "PodMonitor"
		},
		"bad duration": func(u *unstructured.Unstructured) string {
			if u.GetKind() != "PrometheusRule" {
				return ""
			}
			groups, _, _ := unstructured.NestedSlice(u.Object, "spec", "groups")
			rules := groups[0].(map[string]any)["rules"].([]any)
			rules[0].(map[string]any)["for"] = "5 minutes"
			_ = unstructured.SetNestedSlice(u.Object, groups, "spec", "groups")
			return "PrometheusRule"
		},
		"bad scheme": func(u *unstructured.Unstructured) string {
			if u.GetKind() != "ServiceMonitor" {
				return ""
			}
			eps, _, _ := unstructured.NestedSlice(u.Object, "spec", "endpoints")
			eps[0].(map[string]any)["scheme"] = "ftp"
			_ = unstructured.SetNestedSlice(u.Object, eps, "spec", "endpoints")
			return "ServiceMonitor"
		},
	} {
		tried := false
		for _, obj := range objs {
			bad := obj.DeepCopy()
			if kind := mutate(bad); kind != "" {
				tried = true
				if err := dryRun(bad); err == nil {
					t.Errorf("%s: a %s with it was accepted: the test would not catch it", name, kind)
				} else {
					t.Logf("%s: refused as it should be: %v", name, err)
				}
			}
		}
		if !tried {
			t.Errorf("%s: no object to try it on", name)
		}
	}
}

// noNodes is a NodeClient for a cluster whose pods never run (envtest has
// no kubelet): the reconciler never gets as far as calling it.
type noNodes struct{}

var errNoNodes = errors.New("no nodes in this test")

func (noNodes) Leave(context.Context, controller.Target) (api.LeaveResult, error) {
	return api.LeaveResult{}, errNoNodes
}
func (noNodes) Members(context.Context, controller.Target) ([]api.Member, error) {
	return nil, errNoNodes
}
func (noNodes) Rejoin(context.Context, controller.Target) error { return errNoNodes }

// startReconciler runs the operator's reconciler until the test ends.
func startReconciler(t *testing.T) {
	t.Helper()
	mgr, err := ctrl.NewManager(testCfg, kubetest.ManagerOptions(testScheme))
	if err != nil {
		t.Fatalf("manager: %v", err)
	}
	if _, err := controller.NewReconciler(mgr, controller.Options{Nodes: noNodes{}, DefaultImage: "yzma:test"}); err != nil {
		t.Fatalf("reconciler: %v", err)
	}
	kubetest.RunManager(t, mgr)
}

// find returns the only object of kind among objs.
func find(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	found := kubetest.Find(objs, kind, "")
	switch len(found) {
	case 0:
		t.Fatalf("no %s", kind)
	case 1:
		return found[0]
	}
	t.Fatalf("%d %s objects", len(found), kind)
	return nil
}

// matchLabelsOf is the spec.selector.matchLabels of a monitor, as a
// selector (the monitors use no matchExpressions).
func matchLabelsOf(t *testing.T, obj *unstructured.Unstructured) labels.Selector {
	t.Helper()
	if exprs, ok, _ := unstructured.NestedSlice(obj.Object, "spec", "selector", "matchExpressions"); ok && len(exprs) > 0 {
		t.Fatalf("%s: matchExpressions not supported by this test", obj.GetName())
	}
	m, ok, err := unstructured.NestedStringMap(obj.Object, "spec", "selector", "matchLabels")
	if err != nil || !ok || len(m) == 0 {
		t.Fatalf("%s: no spec.selector.matchLabels (%v)", obj.GetName(), err)
	}
	return labels.SelectorFromSet(m)
}

// TestMonitorsSelectWhatTheOperatorCreates runs the reconciler on the
// sample YzmaCluster and checks the PodMonitor against the pod template
// of the StatefulSet it creates, the rules' claim-name join against its
// claim template, and the ServiceMonitor against config/default's metrics
// Service and the cluster's own Services.
func TestMonitorsSelectWhatTheOperatorCreates(t *testing.T) {
	needAPIServer(t)
	objs := kubetest.Kustomize(t, promDir)
	pm, sm := find(t, objs, "PodMonitor"), find(t, objs, "ServiceMonitor")
	ns := newNamespace(t)
	startReconciler(t)

	raw, err := os.ReadFile(filepath.Join(repoRoot, "config", "samples", "db_v1alpha1_yzmacluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c yzmav1.YzmaCluster
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		t.Fatalf("sample: %v", err)
	}
	c.Namespace = ns
	ctx := context.Background()
	if err := k8s.Create(ctx, &c); err != nil {
		t.Fatalf("create sample: %v", err)
	}
	var sts appsv1.StatefulSet
	testwait.For(t, "the StatefulSet", 30*time.Second, 50*time.Millisecond, func() bool {
		return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: c.Name}, &sts) == nil
	})

	// The PodMonitor selects the node pods, on the node container's port.
	podLabels := labels.Set(sts.Spec.Template.Labels)
	if !matchLabelsOf(t, pm).Matches(podLabels) {
		t.Errorf("PodMonitor selector %v does not match the node pods' labels %v", matchLabelsOf(t, pm), podLabels)
	}
	eps, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
	if len(eps) != 1 {
		t.Fatalf("PodMonitor: %d endpoints, want 1", len(eps))
	}
	ep := eps[0].(map[string]any)
	port, path := ep["port"], ep["path"]
	found := false
	for _, ctr := range sts.Spec.Template.Spec.Containers {
		for _, p := range ctr.Ports {
			if p.Name == port && p.Protocol == corev1.ProtocolTCP {
				found = true
			}
		}
	}
	if !found || path != "/metrics" {
		t.Errorf("PodMonitor scrapes port %v path %v; the node pods have no such TCP port or it is not /metrics", port, path)
	}
	// The relabelled cluster label comes from a label the pods have, set
	// to the YzmaCluster's name.
	rls, _ := ep["relabelings"].([]any)
	clusterLabel := false
	for _, r := range rls {
		r := r.(map[string]any)
		if r["targetLabel"] != "yzmacluster" {
			continue
		}
		src, _ := r["sourceLabels"].([]any)
		for k, v := range podLabels {
			if len(src) == 1 && src[0] == "__meta_kubernetes_pod_label_"+sanitize(k) && v == c.Name {
				clusterLabel = true
			}
		}
	}
	if !clusterLabel {
		t.Errorf("PodMonitor: no relabeling sets yzmacluster from a pod label holding the cluster's name (%v)", podLabels)
	}
	// The PodMonitor's jobLabel is a pod label whose value the rules
	// select as job="yzma".
	if jl, _, _ := unstructured.NestedString(pm.Object, "spec", "jobLabel"); podLabels[jl] != "yzma" {
		t.Errorf("PodMonitor jobLabel %q: the pods' value %q, the rules want job=\"yzma\"", jl, podLabels[jl])
	}
	// The volume alerts join on the claim name data-<pod>.
	if len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.VolumeClaimTemplates[0].Name != "data" {
		t.Errorf("claim templates %v: the volume alerts expect claims named data-<pod>", sts.Spec.VolumeClaimTemplates)
	}
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rules), `"persistentvolumeclaim", "data-$1", "pod", "(.+)"`) {
		t.Errorf("%s: no claim-name join data-<pod>", rulesFile)
	}

	// The ServiceMonitor selects none of the cluster's Services...
	var svcs corev1.ServiceList
	testwait.For(t, "the cluster's Services", 30*time.Second, 50*time.Millisecond, func() bool {
		return k8s.List(ctx, &svcs, client.InNamespace(ns)) == nil && len(svcs.Items) >= 2
	})
	smSel := matchLabelsOf(t, sm)
	for _, s := range svcs.Items {
		if smSel.Matches(labels.Set(s.Labels)) {
			t.Errorf("ServiceMonitor selector %v matches the cluster's Service %s", smSel, s.Name)
		}
	}
	// ...but the manager's metrics Service of config/default, in its
	// namespace, on a port the manager's container has; and the PodMonitor
	// does not take the manager's pod for a node.
	deploy := kubetest.Kustomize(t, filepath.Join(repoRoot, "config", "default"))
	var metricsSvc *corev1.Service
	var mgrPod *corev1.PodTemplateSpec
	for _, o := range deploy {
		switch o.GetKind() {
		case "Service":
			var s corev1.Service
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &s); err != nil {
				t.Fatal(err)
			}
			if smSel.Matches(labels.Set(s.Labels)) {
				if metricsSvc != nil {
					t.Errorf("ServiceMonitor selects two Services of config/default: %s and %s", metricsSvc.Name, s.Name)
				}
				metricsSvc = &s
			}
		case "Deployment":
			var d appsv1.Deployment
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
				t.Fatal(err)
			}
			mgrPod = &d.Spec.Template
		}
	}
	if metricsSvc == nil || mgrPod == nil {
		t.Fatalf("config/default: metrics Service %v, Deployment %v", metricsSvc != nil, mgrPod != nil)
	}
	if metricsSvc.Namespace != sm.GetNamespace() {
		t.Errorf("ServiceMonitor in %q, the metrics Service in %q: it would not find it", sm.GetNamespace(), metricsSvc.Namespace)
	}
	smEps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(smEps) != 1 {
		t.Fatalf("ServiceMonitor: %d endpoints, want 1", len(smEps))
	}
	smPort := smEps[0].(map[string]any)["port"]
	var target string
	for _, p := range metricsSvc.Spec.Ports {
		if p.Name == smPort {
			target = p.TargetPort.String()
		}
	}
	if target == "" {
		t.Errorf("metrics Service %s has no port %v", metricsSvc.Name, smPort)
	}
	found = false
	for _, ctr := range mgrPod.Spec.Containers {
		for _, p := range ctr.Ports {
			if p.Name == target || fmt.Sprint(p.ContainerPort) == target {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("metrics Service targets port %q, which the manager's pod does not have", target)
	}
	if matchLabelsOf(t, pm).Matches(labels.Set(mgrPod.Labels)) {
		t.Errorf("PodMonitor selects the manager's pod %v", mgrPod.Labels)
	}
	// The rules name the operator's job after that Service (the
	// ServiceMonitor's default job label).
	if !strings.Contains(string(rules), fmt.Sprintf(`job=%q`, metricsSvc.Name)) {
		t.Errorf("%s: no alert selects job=%q, the operator's metrics Service", rulesFile, metricsSvc.Name)
	}
}

// sanitize is Prometheus's label-name sanitizing of a Kubernetes label key
// in __meta_kubernetes_pod_label_<key>.
func sanitize(k string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, k)
}
