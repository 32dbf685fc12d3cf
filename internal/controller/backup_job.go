package controller

import (
	"cmp"
	"context"
	"fmt"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// backupFileName is the file a backup writes at the root of its claim.
func backupFileName(b *yzmav1.YzmaBackup) string { return b.Name + backupFileExt }

// clientURL is the URL of c's client Service, which reaches its ready
// nodes; its name is in the nodes' certificate (clusterSANs).
func clientURL(c *yzmav1.YzmaCluster, clusterDomain string) string {
	return fmt.Sprintf("%s://%s.%s.svc.%s:%d", apiScheme(c), clientName(c), c.Namespace, clusterDomain, httpPort(c))
}

// scheduleOf is the name of the scheduled YzmaBackup that created b (its
// controller), "" for a backup made by hand.
func scheduleOf(b *yzmav1.YzmaBackup) string {
	if o := metav1.GetControllerOf(b); o != nil && o.Kind == "YzmaBackup" && o.APIVersion == yzmav1.GroupVersion.String() {
		return o.Name
	}
	return ""
}

// backupJob builds the Job of one-shot backup b of cluster c: yzmactl
// backup through the client Service into the claim's "<name>.yzb", with
// the cluster's node image (status.image, which the StatefulSet runs).
// A backup a schedule created also prunes the schedule's older files,
// keeping spec.keep of them (the schedule's keep, copied).
func backupJob(b *yzmav1.YzmaBackup, c *yzmav1.YzmaCluster, defaultImage, clusterDomain string) *batchv1.Job {
	args := []string{"backup",
		"--server", clientURL(c, clusterDomain),
		"--out", backupDir + "/" + backupFileName(b),
		"--report", terminationLog,
	}
	if s := scheduleOf(b); s != "" {
		keep := int32(defaultKeep)
		if b.Spec.Keep != nil {
			keep = *b.Spec.Keep
		}
		args = append(args, "--keep", strconv.Itoa(int(keep)), "--keep-glob", s+"-*"+backupFileExt)
	}
	tls, auth := clusterSecretNames(c)
	return toolJob{
		Name: backupJobName(b), Namespace: b.Namespace, Cluster: c.Name, Component: componentBackup,
		Image:      cmp.Or(c.Status.Image, c.Spec.Image, defaultImage),
		PullPolicy: c.Spec.ImagePullPolicy,
		Claim:      b.Spec.Target.PersistentVolumeClaim.ClaimName,
		TLSSecret:  tls, AuthSecret: auth,
		Args: args,
	}.build()
}

// defaultKeep is spec.keep's default, for objects stored without it.
const defaultKeep = 7

// createBackupJob creates the one-shot backup's Job, owned by it, once
// waitForCluster let it start.
func (r *BackupReconciler) createBackupJob(ctx context.Context, p *backupPass) error {
	if p.job != nil {
		return nil
	}
	b := p.b
	job := backupJob(b, p.cluster, r.DefaultImage, r.ClusterDomain)
	if err := controllerutil.SetControllerReference(b, job, r.Scheme); err != nil {
		return fmt.Errorf("owner reference on %s: %w", job.Name, err)
	}
	if err := r.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create job %s: %w", job.Name, err)
	}
	b.Status.StartTime = &metav1.Time{Time: p.now}
	r.event(b, corev1.EventTypeNormal, reasonBackupStarted, "Backup", "Created Job %s backing up YzmaCluster %s to %s on claim %s",
		job.Name, p.cluster.Name, backupFileName(b), b.Spec.Target.PersistentVolumeClaim.ClaimName)
	p.job = job
	return nil
}
