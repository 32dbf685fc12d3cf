package controller

import (
	"cmp"
	"context"
	"fmt"
	"path"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// backupResult follows the one-shot backup's Job: Running while it runs;
// once it succeeded, the report its pod left as termination message fills
// the status (Succeeded); once it failed (after jobBackoffLimit retries),
// Failed with the pod's message. Either way an event says so.
func (r *BackupReconciler) backupResult(ctx context.Context, p *backupPass) error {
	b, job := p.b, p.job
	out, jobMsg := outcome(job)
	if out == jobRunning {
		b.Status.Phase = yzmav1.BackupRunning
		if b.Status.StartTime == nil {
			b.Status.StartTime = &metav1.Time{Time: cmp.Or(job.CreationTimestamp.Time, p.now)}
		}
		setBackupCondition(b, yzmav1.ConditionComplete, false, reasonRunning, "Job %s is running", job.Name)
		return nil
	}
	msg, err := jobPodMessage(ctx, r.APIReader, job, out == jobSucceeded)
	if err != nil {
		return err
	}
	b.Status.CompletionTime = &metav1.Time{Time: p.now}
	if out == jobFailed {
		r.backupFailed(b, reasonBackupFailed, "Job %s failed: %s", job.Name, cmp.Or(msg, jobMsg))
		return nil
	}
	rep, err := parseReport(msg)
	if err != nil {
		r.backupFailed(b, reasonBadReport, "Job %s succeeded but its report is unusable: %v", job.Name, err)
		return nil
	}
	b.Status.Phase = yzmav1.BackupSucceeded
	b.Status.File = path.Base(rep.File)
	b.Status.Size = rep.Size
	b.Status.Checksum = "sha256:" + rep.SHA256
	b.Status.Keys = rep.Keys
	b.Status.Node = rep.Node
	if !rep.Time.IsZero() {
		b.Status.CompletionTime = &metav1.Time{Time: rep.Time}
	}
	setBackupCondition(b, yzmav1.ConditionComplete, true, reasonBackupSucceeded, "%d keys from node %s in %s (%d bytes)",
		rep.Keys, rep.Node, b.Status.File, rep.Size)
	r.event(b, corev1.EventTypeNormal, reasonBackupSucceeded, "Backup", "Backed up %d keys from node %s to %s (%d bytes, %s)",
		rep.Keys, rep.Node, b.Status.File, rep.Size, b.Status.Checksum)
	backupsTotal.WithLabelValues("succeeded").Inc()
	backupLastSuccess.WithLabelValues(b.Namespace, b.Spec.Cluster).Set(float64(b.Status.CompletionTime.Unix()))
	return nil
}

// backupFailed records a failed backup.
func (r *BackupReconciler) backupFailed(b *yzmav1.YzmaBackup, reason, format string, args ...any) {
	b.Status.Phase = yzmav1.BackupFailed
	setBackupCondition(b, yzmav1.ConditionComplete, false, reason, format, args...)
	r.event(b, corev1.EventTypeWarning, reason, "Backup", format, args...)
	backupsTotal.WithLabelValues("failed").Inc()
}

// jobPodMessage is the termination message of job's pods (see
// terminationMessage), read past the cache, which holds only node pods.
func jobPodMessage(ctx context.Context, rd client.Reader, job *batchv1.Job, success bool) (string, error) {
	var pods corev1.PodList
	if err := rd.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{jobNameLabel: job.Name}); err != nil {
		return "", fmt.Errorf("list the pods of job %s: %w", job.Name, err)
	}
	return terminationMessage(pods.Items, success), nil
}
