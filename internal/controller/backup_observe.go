package controller

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// backupJobName is the Job of a one-shot backup.
func backupJobName(b *yzmav1.YzmaBackup) string { return b.Name + "-backup" }

// observeBackupJob reads the one-shot backup's Job into p.job (nil before
// it exists).
func (r *BackupReconciler) observeBackupJob(ctx context.Context, p *backupPass) error {
	var job batchv1.Job
	switch err := r.Get(ctx, types.NamespacedName{Namespace: p.b.Namespace, Name: backupJobName(p.b)}, &job); {
	case apierrors.IsNotFound(err):
		p.job = nil
	case err != nil:
		return fmt.Errorf("read job %s: %w", backupJobName(p.b), err)
	default:
		p.job = &job
	}
	return nil
}
