package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
	"github.com/yzma/yzma/internal/kubetest"
)

func TestCacheOptions(t *testing.T) {
	c := &yzmav1.YzmaCluster{ObjectMeta: metav1.ObjectMeta{Name: "db"}}
	all := CacheOptions(nil)
	if all.DefaultNamespaces != nil {
		t.Errorf("no namespaces: DefaultNamespaces %v, want nil (every namespace)", all.DefaultNamespaces)
	}
	if o := CacheOptions([]string{}); o.DefaultNamespaces != nil {
		t.Errorf("empty namespaces: DefaultNamespaces %v, want nil", o.DefaultNamespaces)
	}
	// Only pods, claims and Jobs have settings, all a label selector and
	// the default namespaces; Secrets have none, as they are never cached.
	var kinds []string
	for obj, by := range all.ByObject {
		gvk, err := apiutil.GVKForObject(obj, testScheme)
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, gvk.Kind)
		if by.Namespaces != nil {
			t.Errorf("%s: Namespaces %v, want nil (the default namespaces)", gvk.Kind, by.Namespaces)
		}
		if by.Label == nil {
			t.Errorf("%s: no label selector", gvk.Kind)
			continue
		}
		if gvk.Kind == "Job" { // the backup and restore Jobs, no other
			for _, tt := range []struct {
				labels map[string]string
				want   bool
			}{
				{jobLabels("db", componentBackup), true},
				{jobLabels("db", componentRestore), true},
				{map[string]string{labelName: appName}, false},
				{map[string]string{"app": "other"}, false},
			} {
				if got := by.Label.Matches(labels.Set(tt.labels)); got != tt.want {
					t.Errorf("Job selector %q on %v: %v, want %v", by.Label, tt.labels, got, tt.want)
				}
			}
			continue
		}
		for _, tt := range []struct {
			labels map[string]string
			want   bool
		}{
			{selectorLabels(c), true}, // a node pod, and its claims
			{commonLabels(c), true},   // the pod template's labels
			{map[string]string{}, false},
			{map[string]string{labelName: appName}, false}, // the operator's own pod
			{map[string]string{labelName: "other", labelInstance: "db"}, false},
			{map[string]string{labelInstance: "db"}, false},
		} {
			if got := by.Label.Matches(labels.Set(tt.labels)); got != tt.want {
				t.Errorf("%s selector %q on %v: %v, want %v", gvk.Kind, by.Label, tt.labels, got, tt.want)
			}
		}
	}
	slices.Sort(kinds)
	if !slices.Equal(kinds, []string{"Job", "PersistentVolumeClaim", "Pod"}) {
		t.Errorf("ByObject kinds %v, want Job, PersistentVolumeClaim and Pod", kinds)
	}

	some := CacheOptions([]string{"a", "b"})
	if len(some.DefaultNamespaces) != 2 || !hasKey(some.DefaultNamespaces, "a") || !hasKey(some.DefaultNamespaces, "b") {
		t.Errorf("namespaces a, b: DefaultNamespaces %v", some.DefaultNamespaces)
	}
	if len(some.ByObject) != len(all.ByObject) {
		t.Errorf("namespaces change ByObject: %d entries, want %d", len(some.ByObject), len(all.ByObject))
	}
}

func hasKey[V any](m map[string]V, k string) bool { _, ok := m[k]; return ok }

// kindRecorder is a cache that records the kinds asked of it.
type kindRecorder struct {
	cache.Cache
	mu    sync.Mutex
	kinds map[string]bool
}

func (c *kindRecorder) record(obj runtime.Object) {
	gvk, err := apiutil.GVKForObject(obj, testScheme)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.kinds[fmt.Sprintf("?%T", obj)] = true
		return
	}
	c.kinds[strings.TrimSuffix(gvk.Kind, "List")] = true
}

func (c *kindRecorder) seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for k := range c.kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (c *kindRecorder) GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error) {
	c.record(obj)
	return c.Cache.GetInformer(ctx, obj, opts...)
}

func (c *kindRecorder) GetInformerForKind(ctx context.Context, gvk schema.GroupVersionKind, opts ...cache.InformerGetOption) (cache.Informer, error) {
	c.mu.Lock()
	c.kinds[gvk.Kind] = true
	c.mu.Unlock()
	return c.Cache.GetInformerForKind(ctx, gvk, opts...)
}

func (c *kindRecorder) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.record(obj)
	return c.Cache.Get(ctx, key, obj, opts...)
}

func (c *kindRecorder) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	c.record(list)
	return c.Cache.List(ctx, list, opts...)
}

// TestScopedCache runs the reconciler on a manager with CacheOptions for
// one namespace, as cmd/manager does with WATCH_NAMESPACE: it reconciles
// the cluster there (reading its Secret without caching Secrets), ignores
// a cluster elsewhere, and caches only Yzma's pods of that namespace.
func TestScopedCache(t *testing.T) {
	ns, other := newNamespace(t), newNamespace(t)
	ctx := testCtx(t)
	rec := &kindRecorder{kinds: map[string]bool{}}
	opts := kubetest.ManagerOptions(testScheme)
	opts.Cache = CacheOptions([]string{ns})
	opts.NewCache = func(cfg *rest.Config, o cache.Options) (cache.Cache, error) {
		c, err := cache.New(cfg, o)
		rec.Cache = c
		return rec, err
	}
	mgr, err := ctrl.NewManager(testCfg, opts)
	if err != nil {
		t.Fatalf("manager: %v", err)
	}
	if _, err := NewReconciler(mgr, Options{Nodes: &standIn{}, DefaultImage: "yzma:test"}); err != nil {
		t.Fatalf("setup: %v", err)
	}
	kubetest.RunManager(t, mgr)

	// A user's auth Secret, and the generated TLS Secrets.
	auth := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "auth"}, Data: testAuthData()}
	if err := k8s.Create(ctx, auth); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, ns, "scoped", 1, func(c *yzmav1.YzmaCluster) { c.Spec.Auth.SecretName = "auth" })
	elsewhere := newCluster(t, other, "elsewhere", 1)
	var sts appsv1.StatefulSet
	waitFor(t, "the StatefulSet in the watched namespace", 20*time.Second, func() bool {
		return k8s.Get(ctx, client.ObjectKeyFromObject(c), &sts) == nil
	})
	var tlsSec corev1.Secret
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: tlsSecretName(c)}, &tlsSec); err != nil {
		t.Fatalf("the generated TLS Secret: %v", err)
	}
	want := nodeSecrets{TLS: mounted(&tlsSec, tlsKeys), Auth: mounted(auth, authKeys)}.hash()
	if got := sts.Spec.Template.Annotations[annotationConfigHash]; got != want {
		t.Errorf("config hash %q, want %q: the Secrets were not read", got, want)
	}

	pod := func(ns, name string, l map[string]string) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: l},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}},
		}
		if err := k8s.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	node := pod(ns, podName(c, 0), sts.Spec.Template.Labels)
	stranger := pod(ns, "stranger", map[string]string{"app": "other"})
	operator := pod(ns, "operator", map[string]string{labelName: appName}) // like the manager's own pod
	foreign := pod(other, podName(elsewhere, 0), selectorLabels(elsewhere))

	cached := mgr.GetClient()
	waitFor(t, "the node pod in the cache", 10*time.Second, func() bool {
		return cached.Get(ctx, client.ObjectKeyFromObject(node), &corev1.Pod{}) == nil
	})
	// Had the others been cached, they would be by now, or very soon.
	time.Sleep(200 * time.Millisecond)
	for _, p := range []*corev1.Pod{stranger, operator} {
		if err := cached.Get(ctx, client.ObjectKeyFromObject(p), &corev1.Pod{}); !apierrors.IsNotFound(err) {
			t.Errorf("pod %s (labels %v) from the cache: %v, want not found", p.Name, p.Labels, err)
		}
	}
	if err := cached.Get(ctx, client.ObjectKeyFromObject(foreign), &corev1.Pod{}); err == nil {
		t.Errorf("pod %s/%s of another namespace is in the cache", foreign.Namespace, foreign.Name)
	}
	var pods corev1.PodList
	if err := cached.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 || pods.Items[0].Name != node.Name {
		var names []string
		for _, p := range pods.Items {
			names = append(names, p.Name)
		}
		t.Errorf("cached pods %v, want only %s", names, node.Name)
	}

	if err := k8s.Get(ctx, client.ObjectKeyFromObject(elsewhere), &appsv1.StatefulSet{}); !apierrors.IsNotFound(err) {
		t.Errorf("StatefulSet of the cluster in an unwatched namespace: %v, want not found", err)
	}
	if cl := getCluster(t, other, elsewhere.Name); cl.Status.ObservedGeneration != 0 || len(cl.Status.Conditions) > 0 {
		t.Errorf("the cluster in an unwatched namespace was reconciled: %+v", cl.Status)
	}
	kinds := rec.seen()
	if !slices.Contains(kinds, "Pod") {
		t.Errorf("cached kinds %v: no Pod", kinds)
	}
	for _, k := range kinds {
		if k == "Secret" || strings.HasPrefix(k, "?") {
			t.Errorf("cached kinds %v: want no Secret", kinds)
		}
	}
}
