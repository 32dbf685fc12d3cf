package controller

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
	"github.com/yzma/yzma/internal/kubetest"
)

// startBackupManager runs the YzmaBackup controller, with clk as its
// clock (nil: the real one), until the test ends. No YzmaCluster
// controller runs: the tests set the clusters' status themselves.
func startBackupManager(t *testing.T, clk clock.PassiveClock) {
	t.Helper()
	o := kubetest.ManagerOptions(testScheme)
	o.Cache = CacheOptions(nil)
	mgr, err := ctrl.NewManager(testCfg, o)
	if err != nil {
		t.Fatalf("manager: %v", err)
	}
	if _, err := NewBackupReconciler(mgr, BackupOptions{DefaultImage: "yzma:test", Clock: clk}); err != nil {
		t.Fatalf("setup: %v", err)
	}
	kubetest.RunManager(t, mgr)
}

// setClusterAvailable records c as Available (or not) running image, as
// the YzmaCluster controller would.
func setClusterAvailable(t *testing.T, ns, name string, available bool) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		c := getCluster(t, ns, name)
		c.Status.Image = "yzma:7"
		setCondition(c, yzmav1.ConditionAvailable, available, reasonNodesReady, "set by the test")
		return k8s.Status().Update(context.Background(), c)
	})
	if err != nil {
		t.Fatalf("cluster status: %v", err)
	}
}

// newClaim creates a claim for backups.
func newClaim(t *testing.T, ns, name string) {
	t.Helper()
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if err := k8s.Create(context.Background(), pvc); err != nil {
		t.Fatalf("create claim: %v", err)
	}
}

// newBackup creates a YzmaBackup of cluster db into claim "backups".
func newBackup(t *testing.T, ns, name string, mutate ...func(*yzmav1.YzmaBackup)) *yzmav1.YzmaBackup {
	t.Helper()
	b := backupObj(mutate...)
	b.Namespace, b.Name = ns, name
	if err := k8s.Create(context.Background(), b); err != nil {
		t.Fatalf("create backup: %v", err)
	}
	return b
}

func getBackup(t *testing.T, ns, name string) *yzmav1.YzmaBackup {
	t.Helper()
	var b yzmav1.YzmaBackup
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &b); err != nil {
		t.Fatalf("get backup: %v", err)
	}
	return &b
}

// backupCondition is the condition typ of backup ns/name, nil if absent.
func backupCondition(t *testing.T, ns, name, typ string) *metav1.Condition {
	t.Helper()
	return meta.FindStatusCondition(getBackup(t, ns, name).Status.Conditions, typ)
}

// waitForJob waits until Job ns/name exists and returns it.
func waitForJob(t *testing.T, ns, name string) *batchv1.Job {
	t.Helper()
	var job batchv1.Job
	waitFor(t, "job "+name, 20*time.Second, func() bool {
		return k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &job) == nil
	})
	return &job
}

// finishJob does what the Job controller and the kubelet would: a pod of
// the Job that ends with exit code 0 (ok) or 1 and msg as its
// termination message, then the Job's terminal conditions.
func finishJob(t *testing.T, job *batchv1.Job, ok bool, msg string) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: job.Namespace, GenerateName: job.Name + "-", Labels: map[string]string{jobNameLabel: job.Name}},
		Spec:       *job.Spec.Template.Spec.DeepCopy(),
	}
	if err := k8s.Create(ctx, pod); err != nil {
		t.Fatalf("create job pod: %v", err)
	}
	now := metav1.Now()
	term := &corev1.ContainerStateTerminated{Reason: "Completed", Message: msg, StartedAt: now, FinishedAt: now}
	pod.Status.Phase = corev1.PodSucceeded
	if !ok {
		term.ExitCode, term.Reason = 1, "Error"
		pod.Status.Phase = corev1.PodFailed
	}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "yzmactl", Image: job.Spec.Template.Spec.Containers[0].Image, State: corev1.ContainerState{Terminated: term},
	}}
	if err := k8s.Status().Update(ctx, pod); err != nil {
		t.Fatalf("job pod status: %v", err)
	}
	cond := func(typ batchv1.JobConditionType, reason, message string) batchv1.JobCondition {
		return batchv1.JobCondition{Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastProbeTime: now, LastTransitionTime: now}
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var j batchv1.Job
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(job), &j); err != nil {
			return err
		}
		j.Status.StartTime = &now
		if ok {
			j.Status.Succeeded, j.Status.CompletionTime = 1, &now
			j.Status.Conditions = []batchv1.JobCondition{
				cond(batchv1.JobSuccessCriteriaMet, "CompletionsReached", "Reached expected number of succeeded pods"),
				cond(batchv1.JobComplete, "CompletionsReached", "Reached expected number of succeeded pods"),
			}
		} else {
			j.Status.Failed = jobBackoffLimit + 1
			j.Status.Conditions = []batchv1.JobCondition{
				cond(batchv1.JobFailureTarget, "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
				cond(batchv1.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
			}
		}
		return k8s.Status().Update(ctx, &j)
	})
	if err != nil {
		t.Fatalf("job status: %v", err)
	}
}

// report is a report as yzmactl writes it.
func report(file string, size, keys int64, sum, node, at string) string {
	r := fmt.Sprintf(`{"file":%q,"size":%d,"sha256":%q,"keys":%d,"node":%q`, file, size, sum, keys, node)
	if at != "" {
		r += fmt.Sprintf(`,"time":%q`, at)
	}
	return r + "}"
}

func TestBackupOneShotSucceeds(t *testing.T) {
	ns := newNamespace(t)
	startBackupManager(t, nil)
	newCluster(t, ns, "db", 1)
	setClusterAvailable(t, ns, "db", true)
	newClaim(t, ns, "backups")
	b := newBackup(t, ns, "b1")

	job := waitForJob(t, ns, "b1-backup")
	refs := job.OwnerReferences
	if len(refs) != 1 || refs[0].UID != getBackup(t, ns, "b1").UID || !ptr.Deref(refs[0].Controller, false) {
		t.Errorf("job owner references %+v, want the YzmaBackup as controller", refs)
	}
	ctr := jobContainer(t, job)
	if server, _ := flag(ctr.Args, "--server"); ctr.Image != "yzma:7" || server != "https://db."+ns+".svc.cluster.local:8080" {
		t.Errorf("image %q --server %q: want the cluster's image and client Service", ctr.Image, server)
	}
	checkToolJob(t, job, "backups", "db-tls", "db-auth")
	waitFor(t, "Running", 10*time.Second, func() bool {
		got := getBackup(t, ns, b.Name)
		return got.Status.Phase == yzmav1.BackupRunning && got.Status.StartTime != nil
	})

	sum := strings.Repeat("5a", 32)
	finishJob(t, job, true, report("/backup/b1.yzb", 12345, 1000, sum, "node-a", "2026-12-02T17:00:00Z")+"\n")
	waitFor(t, "Succeeded", 10*time.Second, func() bool { return getBackup(t, ns, b.Name).Status.Phase == yzmav1.BackupSucceeded })
	st := getBackup(t, ns, b.Name).Status
	if st.File != "b1.yzb" || st.Size != 12345 || st.Checksum != "sha256:"+sum || st.Keys != 1000 || st.Node != "node-a" {
		t.Errorf("status %+v, want the report's file, size, checksum, keys and node", st)
	}
	if st.CompletionTime == nil || !st.CompletionTime.Equal(&metav1.Time{Time: time.Date(2026, 12, 2, 17, 0, 0, 0, time.UTC)}) || st.StartTime == nil {
		t.Errorf("start %v completion %v, want the report's time", st.StartTime, st.CompletionTime)
	}
	if c := meta.FindStatusCondition(st.Conditions, yzmav1.ConditionComplete); c == nil || c.Status != metav1.ConditionTrue || c.Reason != reasonBackupSucceeded {
		t.Errorf("Complete condition %+v", c)
	}
	waitFor(t, "the BackupSucceeded event", 10*time.Second, func() bool { return len(eventsWithReason(t, ns, reasonBackupSucceeded)) == 1 })
}

func TestBackupJobFailure(t *testing.T) {
	ns := newNamespace(t)
	startBackupManager(t, nil)
	newCluster(t, ns, "db", 1, func(c *yzmav1.YzmaCluster) { c.Spec.TLS.Enabled, c.Spec.Auth.Enabled = ptr.To(false), ptr.To(false) })
	setClusterAvailable(t, ns, "db", true)
	newClaim(t, ns, "backups")
	newBackup(t, ns, "b1")

	job := waitForJob(t, ns, "b1-backup")
	checkToolJob(t, job, "backups", "", "")
	finishJob(t, job, false, "yzmactl: backup: no space left on device")
	waitFor(t, "Failed", 10*time.Second, func() bool { return getBackup(t, ns, "b1").Status.Phase == yzmav1.BackupFailed })
	c := backupCondition(t, ns, "b1", yzmav1.ConditionComplete)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != reasonBackupFailed || !strings.Contains(c.Message, "no space left on device") {
		t.Errorf("Complete condition %+v, want BackupFailed with the pod's message", c)
	}
	waitFor(t, "the BackupFailed event", 10*time.Second, func() bool {
		ev := eventsWithReason(t, ns, reasonBackupFailed)
		return len(ev) == 1 && ev[0].Type == corev1.EventTypeWarning
	})
}

func TestBackupWaitsForCluster(t *testing.T) {
	ns := newNamespace(t)
	startBackupManager(t, nil)
	newBackup(t, ns, "b1")
	pendingFor := func(reason string) func() bool {
		return func() bool {
			c := backupCondition(t, ns, "b1", yzmav1.ConditionComplete)
			return getBackup(t, ns, "b1").Status.Phase == yzmav1.BackupPending && c != nil && c.Reason == reason
		}
	}
	waitFor(t, "Pending: no cluster", 10*time.Second, pendingFor(reasonClusterNotFound))
	newCluster(t, ns, "db", 1)
	setClusterAvailable(t, ns, "db", false)
	waitFor(t, "Pending: cluster not available", 10*time.Second, pendingFor(reasonClusterNotAvailable))
	setClusterAvailable(t, ns, "db", true)
	waitFor(t, "Pending: no claim", 10*time.Second, pendingFor(reasonClaimNotFound))
	var jobs batchv1.JobList
	if err := k8s.List(context.Background(), &jobs, client.InNamespace(ns)); err != nil || len(jobs.Items) > 0 {
		t.Fatalf("jobs while waiting: %d (%v), want none", len(jobs.Items), err)
	}
	newClaim(t, ns, "backups")
	waitForJob(t, ns, "b1-backup")
	waitFor(t, "Running", 10*time.Second, func() bool { return getBackup(t, ns, "b1").Status.Phase == yzmav1.BackupRunning })
}

// poke changes an annotation of backup ns/name, which makes the
// controller reconcile it (after the test moved the fake clock).
func poke(t *testing.T, ns, name string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		b := getBackup(t, ns, name)
		if b.Annotations == nil {
			b.Annotations = map[string]string{}
		}
		b.Annotations["test/poke"] = time.Now().Format(time.RFC3339Nano)
		return k8s.Update(context.Background(), b)
	})
	if err != nil {
		t.Fatalf("poke: %v", err)
	}
}

// scheduleChildren lists the backups the schedule created, by name.
func scheduleChildren(t *testing.T, ns, schedule string) []yzmav1.YzmaBackup {
	t.Helper()
	var list yzmav1.YzmaBackupList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{yzmav1.LabelSchedule: schedule}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func childNames(children []yzmav1.YzmaBackup) []string {
	var names []string
	for _, c := range children {
		names = append(names, c.Name)
	}
	return names
}

// setBackupPhase sets a backup's phase, as its Job's end would.
func setBackupPhase(t *testing.T, ns, name string, phase yzmav1.BackupPhase) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		b := getBackup(t, ns, name)
		b.Status.Phase = phase
		return k8s.Status().Update(context.Background(), b)
	})
	if err != nil {
		t.Fatalf("backup status: %v", err)
	}
}

func TestBackupSchedule(t *testing.T) {
	ns := newNamespace(t)
	// The fake clock starts before the schedule exists; the test moves it.
	clk := clocktesting.NewFakePassiveClock(time.Now().Add(-2 * time.Hour))
	startBackupManager(t, clk)
	s := newBackup(t, ns, "hourly", func(b *yzmav1.YzmaBackup) { b.Spec.Schedule, b.Spec.Keep = "0 * * * *", ptr.To[int32](2) })
	waitFor(t, "Scheduled", 10*time.Second, func() bool {
		c := backupCondition(t, ns, s.Name, yzmav1.ConditionScheduled)
		return getBackup(t, ns, s.Name).Status.Phase == yzmav1.BackupScheduled && c != nil && c.Status == metav1.ConditionTrue
	})
	created := getBackup(t, ns, s.Name).CreationTimestamp.UTC()
	h1 := created.Truncate(time.Hour).Add(time.Hour) // the first due time
	name := func(due time.Time) string { return "hourly-" + due.Format("20060102150405") }
	if n := len(scheduleChildren(t, ns, s.Name)); n != 0 {
		t.Fatalf("%d backups before the first due time", n)
	}

	// At the first due time, its backup.
	clk.SetTime(h1.Add(time.Second))
	poke(t, ns, s.Name)
	waitFor(t, "the first backup", 10*time.Second, func() bool { return len(scheduleChildren(t, ns, s.Name)) == 1 })
	first := scheduleChildren(t, ns, s.Name)[0]
	if first.Name != name(h1) || !metav1.IsControlledBy(&first, getBackup(t, ns, s.Name)) ||
		first.Spec.Cluster != "db" || ptr.Deref(first.Spec.Keep, 0) != 2 || first.Spec.Schedule != "" {
		t.Errorf("first backup %s (owners %+v, spec %+v)", first.Name, first.OwnerReferences, first.Spec)
	}
	waitFor(t, "lastScheduleTime and nextScheduleTime", 10*time.Second, func() bool {
		st := getBackup(t, ns, s.Name).Status
		return st.LastScheduleTime != nil && st.LastScheduleTime.Time.Equal(h1) &&
			st.NextScheduleTime != nil && st.NextScheduleTime.Time.Equal(h1.Add(time.Hour))
	})

	// Three due times missed (the operator was down): one backup, for the
	// latest.
	h4 := h1.Add(3 * time.Hour)
	clk.SetTime(h4.Add(30 * time.Minute))
	poke(t, ns, s.Name)
	waitFor(t, "one backup for the missed due times", 10*time.Second, func() bool { return len(scheduleChildren(t, ns, s.Name)) == 2 })
	if got := childNames(scheduleChildren(t, ns, s.Name)); got[0] != name(h1) || got[1] != name(h4) {
		t.Errorf("backups %v, want %s and %s", got, name(h1), name(h4))
	}

	// Both succeed, and the next one: three successes, one more than
	// keep: the oldest goes, not before the third succeeded.
	setBackupPhase(t, ns, name(h1), yzmav1.BackupSucceeded)
	setBackupPhase(t, ns, name(h4), yzmav1.BackupSucceeded)
	h5 := h4.Add(time.Hour)
	clk.SetTime(h5)
	poke(t, ns, s.Name)
	waitFor(t, "a third backup", 10*time.Second, func() bool { return len(scheduleChildren(t, ns, s.Name)) == 3 })
	setBackupPhase(t, ns, name(h5), yzmav1.BackupSucceeded)
	poke(t, ns, s.Name)
	waitFor(t, "the oldest backup deleted", 10*time.Second, func() bool {
		got := childNames(scheduleChildren(t, ns, s.Name))
		return len(got) == 2 && got[0] == name(h4) && got[1] == name(h5)
	})
	waitFor(t, "a BackupDeleted event about "+name(h1), 10*time.Second, func() bool { // events are written in the background
		ev := eventsWithReason(t, ns, reasonBackupPruned)
		return len(ev) == 1 && strings.Contains(ev[0].Note, name(h1))
	})
	// Two failures: the older goes, the latest stays, and neither
	// pushes a success out; one that has not finished stays.
	h6, h7, h8 := h5.Add(time.Hour), h5.Add(2*time.Hour), h5.Add(3*time.Hour)
	for _, h := range []time.Time{h6, h7} {
		clk.SetTime(h)
		poke(t, ns, s.Name)
		waitFor(t, "a backup for "+name(h), 10*time.Second, func() bool { return slices.Contains(childNames(scheduleChildren(t, ns, s.Name)), name(h)) })
		setBackupPhase(t, ns, name(h), yzmav1.BackupFailed)
	}
	clk.SetTime(h8)
	poke(t, ns, s.Name)
	waitFor(t, "the older failure deleted, the successes and the unfinished kept", 10*time.Second, func() bool {
		return slices.Equal(childNames(scheduleChildren(t, ns, s.Name)), []string{name(h4), name(h5), name(h7), name(h8)})
	})
}

func TestBackupInvalidSchedule(t *testing.T) {
	ns := newNamespace(t)
	startBackupManager(t, nil)
	newBackup(t, ns, "bad", func(b *yzmav1.YzmaBackup) { b.Spec.Schedule = "61 * * * *" })
	waitFor(t, "InvalidSchedule", 10*time.Second, func() bool {
		c := backupCondition(t, ns, "bad", yzmav1.ConditionScheduled)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == reasonInvalidSchedule && strings.Contains(c.Message, "61 * * * *")
	})
	if st := getBackup(t, ns, "bad").Status; st.NextScheduleTime != nil || st.Phase != yzmav1.BackupScheduled {
		t.Errorf("status %+v: want no next time", st)
	}
	// Fixed, it is scheduled.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		b := getBackup(t, ns, "bad")
		b.Spec.Schedule = "@daily"
		return k8s.Update(context.Background(), b)
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Scheduled", 10*time.Second, func() bool {
		c := backupCondition(t, ns, "bad", yzmav1.ConditionScheduled)
		st := getBackup(t, ns, "bad").Status
		return c != nil && c.Status == metav1.ConditionTrue && st.NextScheduleTime != nil &&
			st.NextScheduleTime.UTC().Equal(st.NextScheduleTime.UTC().Truncate(24*time.Hour))
	})
	if n := len(scheduleChildren(t, ns, "bad")); n != 0 {
		t.Errorf("%d backups, want none before the first due time", n)
	}
}

// TestBackupSpecValidation: the CRD's rules, without a controller.
func TestBackupSpecValidation(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	newBackup(t, ns, "b1")
	newBackup(t, ns, "s1", func(b *yzmav1.YzmaBackup) { b.Spec.Schedule = "@daily" })
	update := func(name string, mutate func(*yzmav1.YzmaBackup)) error {
		b := getBackup(t, ns, name)
		mutate(b)
		return k8s.Update(ctx, b)
	}
	for _, tt := range []struct {
		name, backup string
		mutate       func(*yzmav1.YzmaBackup)
		wantErr      string
	}{
		{"cluster", "b1", func(b *yzmav1.YzmaBackup) { b.Spec.Cluster = "other" }, "cluster is immutable"},
		{"target", "b1", func(b *yzmav1.YzmaBackup) { b.Spec.Target.PersistentVolumeClaim.ClaimName = "other" }, "target is immutable"},
		{"one-shot to scheduled", "b1", func(b *yzmav1.YzmaBackup) { b.Spec.Schedule = "@daily" }, "cannot switch"},
		{"scheduled to one-shot", "s1", func(b *yzmav1.YzmaBackup) { b.Spec.Schedule = "" }, "cannot switch"},
		{"keep below 1", "s1", func(b *yzmav1.YzmaBackup) { b.Spec.Keep = ptr.To[int32](0) }, "keep"},
		{"schedule and keep change", "s1", func(b *yzmav1.YzmaBackup) { b.Spec.Schedule, b.Spec.Keep = "@hourly", ptr.To[int32](3) }, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := update(tt.backup, tt.mutate)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("update: %v, want %q", err, tt.wantErr)
			}
		})
	}
	if got := ptr.Deref(getBackup(t, ns, "b1").Spec.Keep, 0); got != 7 {
		t.Errorf("keep defaults to %d, want 7", got)
	}
	long := backupObj(func(b *yzmav1.YzmaBackup) {
		b.Namespace, b.Name, b.Spec.Schedule = ns, strings.Repeat("s", 42), "@daily"
	})
	if err := k8s.Create(ctx, long); err == nil || !strings.Contains(err.Error(), "at most 41") {
		t.Errorf("a schedule named with 42 characters: %v", err)
	}

	// restoreFrom: only at creation, never changed.
	plain := newCluster(t, ns, "plain", 1)
	restored := newCluster(t, ns, "restored", 1, func(c *yzmav1.YzmaCluster) { c.Spec.RestoreFrom = &yzmav1.RestoreFrom{Backup: "b1"} })
	for _, tt := range []struct {
		name    string
		c       *yzmav1.YzmaCluster
		mutate  func(*yzmav1.YzmaCluster)
		wantErr bool
	}{
		{"set later", plain, func(c *yzmav1.YzmaCluster) { c.Spec.RestoreFrom = &yzmav1.RestoreFrom{Backup: "b1"} }, true},
		{"changed", restored, func(c *yzmav1.YzmaCluster) { c.Spec.RestoreFrom.Backup = "other" }, true},
		{"removed", restored, func(c *yzmav1.YzmaCluster) { c.Spec.RestoreFrom = nil }, true},
		{"other fields change", restored, func(c *yzmav1.YzmaCluster) { c.Spec.Replicas = ptr.To[int32](2) }, false},
	} {
		t.Run("restoreFrom "+tt.name, func(t *testing.T) {
			c := getCluster(t, ns, tt.c.Name)
			tt.mutate(c)
			err := k8s.Update(ctx, c)
			if (err != nil) != tt.wantErr || err != nil && !strings.Contains(err.Error(), "restoreFrom can only be set") {
				t.Errorf("update: %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

// TestBackupSamples: config/samples' backups, their claim and the cluster
// restored from one hold only known fields and are accepted by the API
// server.
func TestBackupSamples(t *testing.T) {
	ns := newNamespace(t)
	raw, err := os.ReadFile("../../config/samples/db_v1alpha1_yzmabackup.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs := kubetest.DecodeAll(t, "the backup samples", raw)
	kinds := map[string]int{}
	for _, u := range objs {
		kinds[u.GetKind()]++
		obj, err := testScheme.New(u.GroupVersionKind())
		if err != nil {
			t.Fatal(err)
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, obj, true); err != nil {
			t.Errorf("%s %s: %v", u.GetKind(), u.GetName(), err)
		}
		u.SetNamespace(ns)
		if err := k8s.Create(context.Background(), u); err != nil {
			t.Errorf("create %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	if kinds["YzmaBackup"] != 2 || kinds["YzmaCluster"] != 1 || kinds["PersistentVolumeClaim"] != 1 {
		t.Errorf("sample kinds %v, want a claim, two backups and a restored cluster", kinds)
	}
}
