package controller

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// restoreJobName is the Job restoring a cluster's spec.restoreFrom.
func restoreJobName(c *yzmav1.YzmaCluster) string { return c.Name + "-restore" }

// restoreJob builds the Job restoring backup b into pod 0 of c: yzmactl
// restore of the backup's file on its claim, checked against its
// checksum, into pod 0 through its name in the headless Service (which
// the nodes' certificate holds, as *.<headless>…), with the image and
// Secrets of the node pods (s).
func restoreJob(c *yzmav1.YzmaCluster, b *yzmav1.YzmaBackup, s podSettings) *batchv1.Job {
	server := fmt.Sprintf("%s://%s:%d", apiScheme(c), podDNSName(c, podName(c, 0), s.ClusterDomain), httpPort(c))
	return toolJob{
		Name: restoreJobName(c), Namespace: c.Namespace, Cluster: c.Name, Component: componentRestore,
		Image: s.Image, PullPolicy: c.Spec.ImagePullPolicy,
		Claim:     b.Spec.Target.PersistentVolumeClaim.ClaimName,
		TLSSecret: s.TLSSecret, AuthSecret: s.AuthSecret,
		Args: []string{"restore",
			"--server", server,
			"--in", backupDir + "/" + b.Status.File,
			"--sha256", strings.TrimPrefix(b.Status.Checksum, "sha256:"),
			"--report", terminationLog,
		},
	}.build()
}

// reconcileRestore fills a cluster created with spec.restoreFrom from its
// backup, and records how far it got in the Restored condition. Until
// Restored is True: the backup must have Succeeded (else BackupNotReady)
// and pod 0 be Ready (else WaitingForNode); then the Job "<cluster>-restore",
// the cluster's child, uploads the file into pod 0 (Restoring), whose
// data the other nodes then replicate. Its success makes Restored True
// with the keys and the new node ID from the Job's report; its failure
// (after jobBackoffLimit retries, or the node answering 409 because it
// is not empty) makes it RestoreFailed with the pod's message, and stays
// so: deleting the failed Job makes the next pass start a new one. Once
// Restored is True nothing is done again. The step comes last and waits
// without error, so it never holds up the rest of the pass.
func (r *Reconciler) reconcileRestore(ctx context.Context, p *pass) error {
	c := p.c
	from := c.Spec.RestoreFrom
	if from == nil || meta.IsStatusConditionTrue(c.Status.Conditions, yzmav1.ConditionRestored) {
		return nil
	}
	var job batchv1.Job
	switch err := r.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: restoreJobName(c)}, &job); {
	case apierrors.IsNotFound(err):
		return r.startRestore(ctx, p)
	case err != nil:
		return fmt.Errorf("read job %s: %w", restoreJobName(c), err)
	}
	out, jobMsg := outcome(&job)
	if out == jobRunning {
		setCondition(c, yzmav1.ConditionRestored, false, reasonRestoring, "Job %s restores backup %s into pod %s", job.Name, from.Backup, podName(c, 0))
		return nil
	}
	msg, err := jobPodMessage(ctx, r.APIReader, &job, out == jobSucceeded)
	if err != nil {
		return err
	}
	if out == jobFailed {
		r.restoreFailed(c, reasonRestoreFailed, "Job %s failed: %s; delete the Job to try again", job.Name, cmp.Or(msg, jobMsg))
		return nil
	}
	rep, err := parseReport(msg)
	if err != nil {
		r.restoreFailed(c, reasonBadReport, "Job %s succeeded but its report is unusable: %v", job.Name, err)
		return nil
	}
	setCondition(c, yzmav1.ConditionRestored, true, reasonRestored, "restored %d keys from backup %s into node %s (pod %s)",
		rep.Keys, from.Backup, rep.Node, podName(c, 0))
	r.event(c, corev1.EventTypeNormal, reasonRestored, "Restore", "Restored %d keys from backup %s into node %s (pod %s)",
		rep.Keys, from.Backup, rep.Node, podName(c, 0))
	restoresTotal.WithLabelValues("succeeded").Inc()
	return nil
}

// startRestore creates the restore Job once the backup has Succeeded and
// pod 0 is Ready.
func (r *Reconciler) startRestore(ctx context.Context, p *pass) error {
	c, from := p.c, p.c.Spec.RestoreFrom
	var b yzmav1.YzmaBackup
	switch err := r.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: from.Backup}, &b); {
	case apierrors.IsNotFound(err):
		setCondition(c, yzmav1.ConditionRestored, false, reasonBackupNotReady, "YzmaBackup %s not found", from.Backup)
		return nil
	case err != nil:
		return fmt.Errorf("read backup %s: %w", from.Backup, err)
	}
	if b.Status.Phase != yzmav1.BackupSucceeded || b.Status.File == "" {
		setCondition(c, yzmav1.ConditionRestored, false, reasonBackupNotReady, "YzmaBackup %s is %s, not Succeeded",
			b.Name, cmp.Or(string(b.Status.Phase), "new"))
		return nil
	}
	pod0 := podName(c, 0)
	if !podReady(p.pods[pod0]) {
		setCondition(c, yzmav1.ConditionRestored, false, reasonWaitingForNode, "waiting for pod %s to be ready", pod0)
		return nil
	}
	job := restoreJob(c, &b, podSettings{
		Image: cmp.Or(p.image, c.Status.Image, r.DefaultImage), ClusterDomain: r.ClusterDomain,
		TLSSecret: p.secrets.TLS.name(), AuthSecret: p.secrets.Auth.name(),
	})
	if err := controllerutil.SetControllerReference(c, job, r.Scheme); err != nil {
		return fmt.Errorf("owner reference on %s: %w", job.Name, err)
	}
	if err := r.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create job %s: %w", job.Name, err)
	}
	setCondition(c, yzmav1.ConditionRestored, false, reasonRestoring, "Job %s restores backup %s into pod %s", job.Name, b.Name, pod0)
	r.event(c, corev1.EventTypeNormal, reasonRestoring, "Restore", "Created Job %s restoring backup %s (%s, %s) into pod %s",
		job.Name, b.Name, b.Status.File, b.Status.Checksum, pod0)
	return nil
}

// restoreFailed records a failed restore, with an event and the metric
// the first time.
func (r *Reconciler) restoreFailed(c *yzmav1.YzmaCluster, reason, format string, args ...any) {
	if cond := meta.FindStatusCondition(c.Status.Conditions, yzmav1.ConditionRestored); cond == nil || cond.Reason != reason {
		r.event(c, corev1.EventTypeWarning, reason, "Restore", format, args...)
		restoresTotal.WithLabelValues("failed").Inc()
	}
	setCondition(c, yzmav1.ConditionRestored, false, reason, format, args...)
}

// backupToClusters maps a YzmaBackup to the clusters of its namespace
// that restore from it and are not restored yet.
func (r *Reconciler) backupToClusters(ctx context.Context, obj client.Object) []reconcile.Request {
	var list yzmav1.YzmaClusterList
	if err := r.List(ctx, &list, client.InNamespace(obj.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "list clusters")
		return nil
	}
	var reqs []reconcile.Request
	for _, c := range list.Items {
		if c.Spec.RestoreFrom != nil && c.Spec.RestoreFrom.Backup == obj.GetName() &&
			!meta.IsStatusConditionTrue(c.Status.Conditions, yzmav1.ConditionRestored) {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: c.Namespace, Name: c.Name}})
		}
	}
	return reqs
}
