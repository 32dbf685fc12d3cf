package controller

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// applySample creates config/samples' YzmaCluster in ns.
func applySample(t *testing.T, ns string) *yzmav1.YzmaCluster {
	t.Helper()
	raw, err := os.ReadFile("../../config/samples/db_v1alpha1_yzmacluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c yzmav1.YzmaCluster
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		t.Fatalf("sample: %v", err)
	}
	c.Namespace = ns
	if err := k8s.Create(context.Background(), &c); err != nil {
		t.Fatalf("create sample: %v", err)
	}
	return &c
}

func TestSampleCreatesChildren(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, &standIn{})
	c := applySample(t, ns)
	ctx := context.Background()
	key := func(name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

	var sts appsv1.StatefulSet
	waitFor(t, "the StatefulSet", 20*time.Second, func() bool { return k8s.Get(ctx, key(c.Name), &sts) == nil })
	var headless, svc corev1.Service
	var pdb policyv1.PodDisruptionBudget
	for _, g := range []struct {
		name string
		obj  client.Object
	}{{c.Name + "-peers", &headless}, {c.Name, &svc}, {c.Name, &pdb}} {
		waitFor(t, g.name, 10*time.Second, func() bool { return k8s.Get(ctx, key(g.name), g.obj) == nil })
	}
	cluster := getCluster(t, ns, c.Name)
	for _, obj := range []client.Object{&sts, &headless, &svc, &pdb} {
		refs := obj.GetOwnerReferences()
		if len(refs) != 1 || refs[0].UID != cluster.UID || !ptr.Deref(refs[0].Controller, false) {
			t.Errorf("%T %s: owner references %+v, want the YzmaCluster as controller", obj, obj.GetName(), refs)
		}
	}
	if *sts.Spec.Replicas != 3 || sts.Spec.ServiceName != c.Name+"-peers" {
		t.Errorf("statefulset replicas %d service %q", *sts.Spec.Replicas, sts.Spec.ServiceName)
	}
	if got := sts.Spec.PersistentVolumeClaimRetentionPolicy; got.WhenScaled != appsv1.DeletePersistentVolumeClaimRetentionPolicyType ||
		got.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Errorf("claim retention %+v, want Delete when scaled, Retain when deleted", got)
	}
	if !headless.Spec.PublishNotReadyAddresses || headless.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("headless service: %+v", headless.Spec)
	}
	if pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("pdb maxUnavailable %v", pdb.Spec.MaxUnavailable)
	}

	// Status follows the StatefulSet; observedGeneration after a good pass.
	waitFor(t, "observedGeneration", 10*time.Second, func() bool {
		cl := getCluster(t, ns, c.Name)
		return cl.Status.ObservedGeneration == cl.Generation && cl.Status.Selector != ""
	})
	cl := getCluster(t, ns, c.Name)
	if !meta.IsStatusConditionFalse(cl.Status.Conditions, yzmav1.ConditionAvailable) || cl.Status.Phase != yzmav1.ConditionProgressing {
		t.Errorf("before any pod is ready: phase %q conditions %+v", cl.Status.Phase, cl.Status.Conditions)
	}
	sts.Status = appsv1.StatefulSetStatus{
		ObservedGeneration: sts.Generation, Replicas: 3, ReadyReplicas: 3, CurrentReplicas: 3, UpdatedReplicas: 3,
		AvailableReplicas: 3, CurrentRevision: "r1", UpdateRevision: "r1",
	}
	if err := k8s.Status().Update(ctx, &sts); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Available and stable", 10*time.Second, func() bool {
		cl := getCluster(t, ns, c.Name)
		return meta.IsStatusConditionTrue(cl.Status.Conditions, yzmav1.ConditionAvailable) &&
			meta.IsStatusConditionFalse(cl.Status.Conditions, yzmav1.ConditionProgressing) &&
			cl.Status.ReadyReplicas == 3 && cl.Status.Phase == yzmav1.ConditionAvailable
	})
}

func TestMissingSecretIsDegradedWithoutObservedGeneration(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, &standIn{})
	c := newCluster(t, ns, "sec", 1, func(c *yzmav1.YzmaCluster) { c.Spec.Auth.SecretName = "token" })
	waitFor(t, "Degraded", 10*time.Second, func() bool {
		cl := getCluster(t, ns, c.Name)
		cond := meta.FindStatusCondition(cl.Status.Conditions, yzmav1.ConditionDegraded)
		return cond != nil && cond.Status == metav1.ConditionTrue && cond.Reason == reasonSecretProblem
	})
	if cl := getCluster(t, ns, c.Name); cl.Status.ObservedGeneration != 0 {
		t.Errorf("observedGeneration %d after a failed pass", cl.Status.ObservedGeneration)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "token"}, Data: testAuthData()}
	if err := k8s.Create(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "recovery once the Secret exists", 10*time.Second, func() bool {
		cl := getCluster(t, ns, c.Name)
		return cl.Status.ObservedGeneration == cl.Generation && meta.IsStatusConditionFalse(cl.Status.Conditions, yzmav1.ConditionDegraded)
	})
}

func TestCRDValidation(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	bad := &yzmav1.YzmaCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "zero"},
		Spec:       yzmav1.YzmaClusterSpec{Replicas: ptr.To[int32](0)},
	}
	if err := k8s.Create(ctx, bad); err == nil || !strings.Contains(err.Error(), "spec.replicas") ||
		!strings.Contains(err.Error(), "greater than or equal to 1") {
		t.Errorf("replicas 0: got %v, want a rejection naming spec.replicas", err)
	}

	c := newCluster(t, ns, "grow", 3, func(c *yzmav1.YzmaCluster) { c.Spec.Storage.Size = resource.MustParse("2Gi") })
	if c.Spec.Storage.Size.String() != "2Gi" || c.Spec.Ports.HTTP != 8080 || c.Spec.Persistence.DeletePolicy != yzmav1.PVCRetain ||
		!ptr.Deref(c.Spec.TLS.Enabled, false) || !ptr.Deref(c.Spec.Auth.Enabled, false) {
		t.Errorf("defaults not applied: %+v", c.Spec)
	}
	// The operator's own variables, volumes and mounts are refused.
	for name, mutate := range map[string]func(*yzmav1.YzmaCluster){
		"podTemplate.env cannot set": func(c *yzmav1.YzmaCluster) {
			c.Spec.PodTemplate.Env = []corev1.EnvVar{{Name: "YZMA_TLS_CA_FILE", Value: "/x"}}
		},
		"podTemplate.volumes cannot be named": func(c *yzmav1.YzmaCluster) {
			c.Spec.PodTemplate.Volumes = []yzmav1.Volume{{Name: "yzma-auth", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		},
		"podTemplate.volumeMounts cannot use": func(c *yzmav1.YzmaCluster) {
			c.Spec.PodTemplate.VolumeMounts = []corev1.VolumeMount{{Name: "x", MountPath: "/etc/yzma/tls/ca.crt"}}
		},
	} {
		bad := &yzmav1.YzmaCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reserved"}}
		mutate(bad)
		if err := k8s.Create(ctx, bad); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	ok := &yzmav1.YzmaCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "extra-mount"}}
	ok.Spec.PodTemplate.VolumeMounts = []corev1.VolumeMount{{Name: "x", MountPath: "/etc/yzma/extra"}}
	if err := k8s.Create(ctx, ok); err != nil {
		t.Errorf("a mount beside the operator's: %v", err)
	}
	for _, tc := range []struct {
		size    string
		wantErr string
	}{
		{"1Gi", "storage.size cannot shrink"},
		{"1500Mi", "storage.size cannot shrink"},
		{"2048Mi", ""},
		{"3Gi", ""},
	} {
		cl := getCluster(t, ns, c.Name)
		cl.Spec.Storage.Size = resource.MustParse(tc.size)
		err := k8s.Update(ctx, cl)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("size %s: %v", tc.size, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("size %s: got %v, want %q", tc.size, err, tc.wantErr)
		}
	}
	cl := getCluster(t, ns, c.Name)
	cl.Spec.Storage.StorageClassName = ptr.To("fast")
	if err := k8s.Update(ctx, cl); err == nil || !strings.Contains(err.Error(), "storageClassName is immutable") {
		t.Errorf("storage class change: got %v", err)
	}
}

func TestScaleSubresource(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, &standIn{})
	c := newCluster(t, ns, "scaled", 3)
	ctx := context.Background()
	waitFor(t, "status selector", 10*time.Second, func() bool { return getCluster(t, ns, c.Name).Status.Selector != "" })

	var scale autoscalingv1.Scale
	if err := k8s.SubResource("scale").Get(ctx, c, &scale); err != nil {
		t.Fatalf("get scale: %v", err)
	}
	if scale.Spec.Replicas != 3 || scale.Status.Selector != selectorString(c) {
		t.Errorf("scale %+v", scale)
	}
	// kubectl scale --replicas=4 does this, again on a conflict (the
	// operator writes the status meanwhile).
	scaleTo := func(n int32) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var s autoscalingv1.Scale
			if err := k8s.SubResource("scale").Get(ctx, c, &s); err != nil {
				return err
			}
			s.Spec.Replicas = n
			return k8s.SubResource("scale").Update(ctx, c, client.WithSubResourceBody(&s))
		})
	}
	if err := scaleTo(4); err != nil {
		t.Fatalf("update scale: %v", err)
	}
	if got := *getCluster(t, ns, c.Name).Spec.Replicas; got != 4 {
		t.Errorf("spec.replicas %d after scaling to 4", got)
	}
	var sts appsv1.StatefulSet
	waitFor(t, "the StatefulSet at 4", 10*time.Second, func() bool {
		return k8s.Get(ctx, client.ObjectKeyFromObject(c), &sts) == nil && *sts.Spec.Replicas == 4
	})
	if err := scaleTo(0); err == nil {
		t.Errorf("scale to 0 accepted")
	}
}

// TestImageStaysAcrossOperatorUpgrade: a cluster that names no image keeps
// the operator's default it was created with, recorded in status.image,
// when a new operator has another default; the follow annotation moves it
// to the new default, and spec.image wins over both.
func TestImageStaysAcrossOperatorUpgrade(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	first := startManagerWith(t, Options{Nodes: &standIn{}, DefaultImage: "yzma:a"})
	c := newCluster(t, ns, "img", 1)
	nodeImageIs := func(want string) bool {
		var sts appsv1.StatefulSet
		return k8s.Get(ctx, client.ObjectKeyFromObject(c), &sts) == nil &&
			len(sts.Spec.Template.Spec.Containers) > 0 && sts.Spec.Template.Spec.Containers[0].Image == want
	}
	runs := func(what, want string) {
		t.Helper()
		waitFor(t, what, 10*time.Second, func() bool {
			cl := getCluster(t, ns, c.Name)
			return nodeImageIs(want) && cl.Status.Image == want && cl.Status.ObservedGeneration == cl.Generation
		})
	}
	update := func(mutate func(*yzmav1.YzmaCluster)) {
		t.Helper()
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cl := getCluster(t, ns, c.Name)
			mutate(cl)
			return k8s.Update(ctx, cl)
		}); err != nil {
			t.Fatal(err)
		}
	}
	runs("the first default yzma:a", "yzma:a")

	// The operator is upgraded: a new default.
	first.stop()
	startManagerWith(t, Options{Nodes: &standIn{}, DefaultImage: "yzma:b"})
	// A spec change the new operator must reconcile (observedGeneration),
	// so that at least one of its passes has run.
	update(func(cl *yzmav1.YzmaCluster) { cl.Spec.PodTemplate.Annotations = map[string]string{"touched": "1"} })
	waitFor(t, "a pass of the upgraded operator", 10*time.Second, func() bool {
		cl := getCluster(t, ns, c.Name)
		return cl.Status.ObservedGeneration == cl.Generation
	})
	if !nodeImageIs("yzma:a") {
		t.Fatal("the StatefulSet left yzma:a after the operator's upgrade")
	}
	if cl := getCluster(t, ns, c.Name); cl.Status.Image != "yzma:a" {
		t.Fatalf("status.image %q after the operator's upgrade, want yzma:a", cl.Status.Image)
	}

	update(func(cl *yzmav1.YzmaCluster) {
		cl.Annotations = map[string]string{yzmav1.AnnotationFollowOperatorImage: "true"}
	})
	runs("the new default yzma:b with the follow annotation", "yzma:b")

	update(func(cl *yzmav1.YzmaCluster) { cl.Spec.Image = "yzma:c" })
	runs("spec.image yzma:c", "yzma:c")
}
