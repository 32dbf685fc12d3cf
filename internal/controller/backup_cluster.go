package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// claimPollInterval is how often a backup waiting for its target claim
// looks again (claims are not watched).
const claimPollInterval = 10 * time.Second

// waitForCluster holds a one-shot backup whose Job does not exist yet in
// Pending, with the reason in the Complete condition, until it may start:
// not suspended, the cluster exists and is Available, and the target
// claim exists. It reads the cluster into p.cluster.
func (r *BackupReconciler) waitForCluster(ctx context.Context, p *backupPass) error {
	if p.job != nil {
		return nil
	}
	b := p.b
	pending := func(reason, format string, args ...any) {
		b.Status.Phase = yzmav1.BackupPending
		setBackupCondition(b, yzmav1.ConditionComplete, false, reason, format, args...)
		p.done = true
	}
	if b.Spec.Suspend {
		pending(reasonSuspended, "suspended")
		return nil
	}
	var c yzmav1.YzmaCluster
	switch err := r.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.Cluster}, &c); {
	case apierrors.IsNotFound(err):
		pending(reasonClusterNotFound, "YzmaCluster %s not found", b.Spec.Cluster)
		return nil
	case err != nil:
		return fmt.Errorf("read cluster %s: %w", b.Spec.Cluster, err)
	}
	if !meta.IsStatusConditionTrue(c.Status.Conditions, yzmav1.ConditionAvailable) {
		pending(reasonClusterNotAvailable, "YzmaCluster %s is not available", c.Name)
		return nil
	}
	claim := b.Spec.Target.PersistentVolumeClaim.ClaimName
	var pvc corev1.PersistentVolumeClaim
	switch err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: claim}, &pvc); {
	case apierrors.IsNotFound(err):
		pending(reasonClaimNotFound, "PersistentVolumeClaim %s not found", claim)
		p.wantRequeue(claimPollInterval)
		return nil
	case err != nil:
		return fmt.Errorf("read claim %s: %w", claim, err)
	}
	p.cluster = &c
	return nil
}
