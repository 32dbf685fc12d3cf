package localcluster

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

const (
	// Provisioner is the provisioner name of the default StorageClass and
	// of the PersistentVolumes this package creates.
	Provisioner = "localcluster.yzma.io/hostpath"
	// StorageClass is the default StorageClass's name ("standard", as in
	// kind).
	StorageClass = "standard"
	// provisionedLabel marks the PersistentVolumes this package created
	// (and whose directories it may remove).
	provisionedLabel = "localcluster.yzma.io/provisioned"
)

// provisioner gives every claim a hostPath PersistentVolume pre-bound to
// it (kube-controller-manager's binder completes the binding) and deletes
// the volume and its directory once the claim is gone.
type provisioner struct {
	c    client.Client
	api  client.Reader
	root string
	log  *slog.Logger
}

func (p *provisioner) setup(mgr manager.Manager) error {
	return builder.ControllerManagedBy(mgr).
		Named("localcluster-provisioner").
		For(&corev1.PersistentVolumeClaim{}).
		Watches(&corev1.PersistentVolume{}, handler.EnqueueRequestsFromMapFunc(
			func(_ context.Context, o client.Object) []reconcile.Request {
				pv := o.(*corev1.PersistentVolume)
				if pv.Labels[provisionedLabel] == "" || pv.Spec.ClaimRef == nil {
					return nil
				}
				return []reconcile.Request{{NamespacedName: types.NamespacedName{
					Namespace: pv.Spec.ClaimRef.Namespace, Name: pv.Spec.ClaimRef.Name}}}
			})).
		Complete(p)
}

func (p *provisioner) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var pvc corev1.PersistentVolumeClaim
	err := p.c.Get(ctx, req.NamespacedName, &pvc)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, p.release(ctx, req.NamespacedName, "")
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	// The volumes of an earlier claim of the same name go.
	if err := p.release(ctx, req.NamespacedName, pvc.UID); err != nil {
		return reconcile.Result{}, err
	}
	if pvc.DeletionTimestamp != nil || pvc.Spec.VolumeName != "" {
		return reconcile.Result{}, nil
	}
	class := ""
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	if class != "" {
		var sc storagev1.StorageClass
		if err := p.c.Get(ctx, types.NamespacedName{Name: class}, &sc); err == nil && sc.Provisioner != Provisioner {
			return reconcile.Result{}, nil // someone else's
		}
	}
	name := "pvc-" + string(pvc.UID)
	dir := filepath.Join(p.root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return reconcile.Result{}, err
	}
	size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if size.IsZero() {
		size = resource.MustParse("1Gi")
	}
	modes := pvc.Spec.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	dirType := corev1.HostPathDirectoryOrCreate
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{provisionedLabel: "true"}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   modes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              class,
			VolumeMode:                    pvc.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &dirType},
			},
		},
	}
	switch err := p.c.Create(ctx, pv); {
	case err == nil:
		p.log.Info("provisioned volume", "pvc", req.String(), "pv", name, "dir", dir)
	case !apierrors.IsAlreadyExists(err):
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, nil
}

// release deletes the volumes this package made for the claim key, but not
// those of the claim with UID keep, once the API server confirms their
// claim is gone, and removes their directories.
func (p *provisioner) release(ctx context.Context, key types.NamespacedName, keep types.UID) error {
	var pvs corev1.PersistentVolumeList
	if err := p.c.List(ctx, &pvs, client.HasLabels{provisionedLabel}); err != nil {
		return err
	}
	for i := range pvs.Items {
		pv := &pvs.Items[i]
		ref := pv.Spec.ClaimRef
		if pv.DeletionTimestamp != nil || ref == nil || ref.Namespace != key.Namespace || ref.Name != key.Name || ref.UID == keep {
			continue
		}
		var cur corev1.PersistentVolumeClaim
		err := p.api.Get(ctx, key, &cur)
		if err == nil && cur.UID == ref.UID {
			continue // still there; the cache was behind
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if hp := pv.Spec.HostPath; hp != nil && strings.HasPrefix(hp.Path, p.root+string(filepath.Separator)) {
			if err := os.RemoveAll(hp.Path); err != nil {
				return err
			}
		}
		if err := p.c.Delete(ctx, pv); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		p.log.Info("removed volume", "pvc", key.String(), "pv", pv.Name)
	}
	return nil
}

// defaultStorageClass makes claims without a class use this package's
// provisioner.
func defaultStorageClass() *storagev1.StorageClass {
	reclaim := corev1.PersistentVolumeReclaimDelete
	mode := storagev1.VolumeBindingImmediate
	return &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        StorageClass,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       Provisioner,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &mode,
	}
}
