package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// restoredCondition is the Restored condition of cluster ns/name.
func restoredCondition(t *testing.T, ns, name string) *metav1.Condition {
	t.Helper()
	return meta.FindStatusCondition(getCluster(t, ns, name).Status.Conditions, yzmav1.ConditionRestored)
}

// restoredIs waits until the Restored condition of ns/name has status
// and reason.
func restoredIs(t *testing.T, ns, name string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	waitFor(t, "Restored "+string(status)+" "+reason, 20*time.Second, func() bool {
		c := restoredCondition(t, ns, name)
		return c != nil && c.Status == status && c.Reason == reason
	})
}

// TestRestoreFromBackup follows a restore from start to end: it waits for
// the backup, then for pod 0, runs the Job, reports its failure, starts
// again once the failed Job is deleted, and records the success.
func TestRestoreFromBackup(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	startManager(t, &standIn{})
	newBackup(t, ns, "b1") // no backup controller runs: the test sets its status
	c := newCluster(t, ns, "copy", 1, func(c *yzmav1.YzmaCluster) { c.Spec.RestoreFrom = &yzmav1.RestoreFrom{Backup: "b1"} })
	sim := startPodSim(t, c, false)
	sim.setUnready(podName(c, 0), true)

	// The backup has not succeeded: no Job.
	restoredIs(t, ns, c.Name, metav1.ConditionFalse, reasonBackupNotReady)
	sum := strings.Repeat("c3", 32)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		b := getBackup(t, ns, "b1")
		b.Status = yzmav1.YzmaBackupStatus{Phase: yzmav1.BackupSucceeded, File: "b1.yzb", Checksum: "sha256:" + sum, Size: 10, Keys: 42}
		return k8s.Status().Update(ctx, b)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Pod 0 is not ready: no Job either.
	restoredIs(t, ns, c.Name, metav1.ConditionFalse, reasonWaitingForNode)
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "copy-restore"}, &batchv1.Job{}); !apierrors.IsNotFound(err) {
		t.Fatalf("restore job before pod 0 is ready: %v", err)
	}
	if cl := getCluster(t, ns, c.Name); cl.Status.ObservedGeneration != cl.Generation {
		t.Errorf("the waiting restore held up the pass: observedGeneration %d of %d", cl.Status.ObservedGeneration, cl.Generation)
	}

	sim.setUnready(podName(c, 0), false)
	job := waitForJob(t, ns, "copy-restore")
	restoredIs(t, ns, c.Name, metav1.ConditionFalse, reasonRestoring)
	cl := getCluster(t, ns, c.Name)
	if refs := job.OwnerReferences; len(refs) != 1 || refs[0].UID != cl.UID || !ptr.Deref(refs[0].Controller, false) {
		t.Errorf("job owner references %+v, want the YzmaCluster as controller", refs)
	}
	checkToolJob(t, job, "backups", "copy-tls", "copy-auth")
	ctr := jobContainer(t, job)
	server, _ := flag(ctr.Args, "--server")
	in, _ := flag(ctr.Args, "--in")
	gotSum, _ := flag(ctr.Args, "--sha256")
	if ctr.Args[0] != "restore" || server != "https://copy-0.copy-peers."+ns+".svc.cluster.local:8080" || in != "/backup/b1.yzb" || gotSum != sum {
		t.Errorf("args %v: want restore into pod 0 of the backup's file and checksum", ctr.Args)
	}
	if ctr.Image != cl.Status.Image {
		t.Errorf("image %q, want the nodes' %q", ctr.Image, cl.Status.Image)
	}

	// It fails (the node was not empty): RestoreFailed with the message.
	finishJob(t, job, false, "yzmactl: restore: 409 Conflict: the node holds data")
	restoredIs(t, ns, c.Name, metav1.ConditionFalse, reasonRestoreFailed)
	if cond := restoredCondition(t, ns, c.Name); !strings.Contains(cond.Message, "the node holds data") {
		t.Errorf("RestoreFailed message %q, want the pod's", cond.Message)
	}
	waitFor(t, "the RestoreFailed event", 10*time.Second, func() bool {
		ev := eventsWithReason(t, ns, reasonRestoreFailed)
		return len(ev) == 1 && ev[0].Type == corev1.EventTypeWarning
	})

	// Deleting the failed Job (and its pod: envtest has no garbage
	// collector) starts another.
	if err := k8s.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	if err := k8s.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns), client.MatchingLabels{jobNameLabel: job.Name}); err != nil {
		t.Fatal(err)
	}
	var again batchv1.Job
	waitFor(t, "a new restore Job", 20*time.Second, func() bool {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "copy-restore"}, &again)
		return err == nil && again.UID != job.UID
	})
	restoredIs(t, ns, c.Name, metav1.ConditionFalse, reasonRestoring)

	finishJob(t, &again, true, report("/backup/b1.yzb", 10, 42, sum, "node-new", ""))
	restoredIs(t, ns, c.Name, metav1.ConditionTrue, reasonRestored)
	if cond := restoredCondition(t, ns, c.Name); !strings.Contains(cond.Message, "42 keys") || !strings.Contains(cond.Message, "node-new") {
		t.Errorf("Restored message %q, want the keys and the new node ID", cond.Message)
	}
	waitFor(t, "the Restored event", 10*time.Second, func() bool { return len(eventsWithReason(t, ns, reasonRestored)) == 1 })
}

// TestRestoreBackupNotReady: a cluster restoring from a backup that is
// missing or a schedule waits with BackupNotReady, and its nodes start all
// the same.
func TestRestoreBackupNotReady(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, &standIn{})
	newBackup(t, ns, "nightly", func(b *yzmav1.YzmaBackup) { b.Spec.Schedule = "@daily" })
	for _, tt := range []struct{ cluster, backup string }{
		{"missing", "nope"},
		{"scheduled", "nightly"},
	} {
		t.Run(tt.cluster, func(t *testing.T) {
			c := newCluster(t, ns, tt.cluster, 1, func(c *yzmav1.YzmaCluster) { c.Spec.RestoreFrom = &yzmav1.RestoreFrom{Backup: tt.backup} })
			startPodSim(t, c, false)
			restoredIs(t, ns, c.Name, metav1.ConditionFalse, reasonBackupNotReady)
			waitFor(t, "pod 0 ready", 20*time.Second, func() bool {
				var pod corev1.Pod
				return k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: podName(c, 0)}, &pod) == nil && podReady(&pod)
			})
			restoredIs(t, ns, c.Name, metav1.ConditionFalse, reasonBackupNotReady)
			if cond := restoredCondition(t, ns, c.Name); !strings.Contains(cond.Message, tt.backup) {
				t.Errorf("message %q does not name the backup", cond.Message)
			}
			var jobs batchv1.JobList
			if err := k8s.List(context.Background(), &jobs, client.InNamespace(ns)); err != nil || len(jobs.Items) > 0 {
				t.Errorf("jobs: %d (%v), want none", len(jobs.Items), err)
			}
		})
	}
}
