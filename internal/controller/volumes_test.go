package controller

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

func claim(name, size string) corev1.PersistentVolumeClaim {
	return corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
		}},
	}
}

func TestClaimsToGrow(t *testing.T) {
	c := cluster(func(c *yzmav1.YzmaCluster) { c.Spec.Storage.Size = resource.MustParse("2Gi") })
	claims := []corev1.PersistentVolumeClaim{
		claim("data-db-0", "1Gi"),     // grows
		claim("data-db-1", "2Gi"),     // as big already
		claim("data-db-2", "4Gi"),     // bigger: never shrunk
		claim("data-other-0", "1Gi"),  // another cluster's
		claim("scratch-db-0", "1Gi"),  // not the data claim
		claim("data-db-peers", "1Gi"), // not a pod's
		claim("data-db-3", "1024Mi"),  // grows
		claim("data-db-4", "2048Mi"),  // equal in other units
	}
	got, size := claimsToGrow(c, claims)
	if want := []int{0, 6}; !slices.Equal(got, want) || size.String() != "2Gi" {
		t.Errorf("claimsToGrow = %v, %s; want %v, 2Gi", got, size.String(), want)
	}
}

func TestGrowingStorageExpandsBoundClaims(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	class := &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{GenerateName: "expandable-"},
		Provisioner:          "example.com/none",
		AllowVolumeExpansion: ptr.To(true),
	}
	if err := k8s.Create(ctx, class); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, ns, "grow", 1, func(c *yzmav1.YzmaCluster) {
		c.Spec.Storage = yzmav1.Storage{Size: resource.MustParse("1Gi"), StorageClassName: ptr.To(class.Name)}
	})
	// The claim the StatefulSet controller would have made, bound.
	pvc := claim("data-grow-0", "1Gi")
	pvc.Namespace, pvc.Labels = ns, selectorLabels(c)
	pvc.Spec.StorageClassName = ptr.To(class.Name)
	pvc.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	pvc.Spec.VolumeName = "pv-grow-0"
	if err := k8s.Create(ctx, &pvc); err != nil {
		t.Fatal(err)
	}
	pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
		Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}
	if err := k8s.Status().Update(ctx, &pvc); err != nil {
		t.Fatal(err)
	}
	startManager(t, &standIn{})

	// Again on a conflict: the operator writes the status meanwhile.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cl := getCluster(t, ns, c.Name)
		cl.Spec.Storage.Size = resource.MustParse("3Gi")
		return k8s.Update(ctx, cl)
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the claim to ask for 3Gi", 20*time.Second, func() bool {
		var got corev1.PersistentVolumeClaim
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(&pvc), &got); err != nil {
			return false
		}
		q := got.Spec.Resources.Requests[corev1.ResourceStorage]
		return q.String() == "3Gi"
	})
	waitFor(t, "a VolumeExpanding event", 10*time.Second, func() bool {
		return len(eventsWithReason(t, ns, reasonVolumeExpanding)) > 0
	})
}
