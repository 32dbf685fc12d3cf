package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// scheduleTimeFormat is the due time in the name of a schedule's backups
// (UTC), which therefore sort by it.
const scheduleTimeFormat = "20060102150405"

// parseSchedule parses spec.schedule as cron does: five fields or a
// descriptor (@daily, @every 1h), optionally after "CRON_TZ=<zone> ".
// Without a zone the times are UTC (the times given to the schedule are).
func parseSchedule(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, err
	}
	if s.Next(time.Unix(0, 0).UTC()).IsZero() {
		return nil, fmt.Errorf("it is never due")
	}
	return s, nil
}

// lastDue is the latest due time of sched after after and at or before
// now, and whether there is one. Of several missed due times only the
// latest counts: a schedule runs at most one backup for them.
func lastDue(sched cron.Schedule, after, now time.Time) (time.Time, bool) {
	var due time.Time
	for t := sched.Next(after.UTC()); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		due = t
	}
	return due, !due.IsZero()
}

// scheduledBackup is the one-shot backup schedule s creates for due time
// due: "<schedule>-<YYYYMMDDHHMMSS>", labelled with the schedule's name,
// with its cluster, target and keep; its controller reference to s is
// added when it is created (and makes its Job prune older files).
func scheduledBackup(s *yzmav1.YzmaBackup, due time.Time) *yzmav1.YzmaBackup {
	return &yzmav1.YzmaBackup{
		TypeMeta: metav1.TypeMeta{APIVersion: yzmav1.GroupVersion.String(), Kind: "YzmaBackup"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      s.Name + "-" + due.UTC().Format(scheduleTimeFormat),
			Namespace: s.Namespace,
			Labels:    map[string]string{yzmav1.LabelSchedule: s.Name, labelManagedBy: managerName},
		},
		Spec: yzmav1.YzmaBackupSpec{Cluster: s.Spec.Cluster, Target: s.Spec.Target, Keep: s.Spec.Keep},
	}
}

// runSchedule runs a scheduled backup (spec.schedule), the way a CronJob
// does with startingDeadlineSeconds unset and concurrencyPolicy Allow: at
// the latest due time since the last one it created (or since its own
// creation) it creates that time's one-shot backup, then asks to run again
// at the next due time. Due times missed while the operator was down or
// the schedule suspended come to one backup, created at once. The
// Scheduled condition reports an invalid schedule (and nothing runs) or a
// suspended one; status.nextScheduleTime the next due time.
func (r *BackupReconciler) runSchedule(ctx context.Context, p *backupPass) error {
	b := p.b
	b.Status.Phase = yzmav1.BackupScheduled
	sched, err := parseSchedule(b.Spec.Schedule)
	if err != nil {
		b.Status.NextScheduleTime = nil
		setBackupCondition(b, yzmav1.ConditionScheduled, false, reasonInvalidSchedule, "spec.schedule %q: %v", b.Spec.Schedule, err)
		p.done = true
		return nil
	}
	if b.Spec.Suspend {
		b.Status.NextScheduleTime = nil
		setBackupCondition(b, yzmav1.ConditionScheduled, false, reasonSuspended, "suspended")
		return nil
	}
	last := b.CreationTimestamp.Time
	if b.Status.LastScheduleTime != nil {
		last = b.Status.LastScheduleTime.Time
	}
	if due, ok := lastDue(sched, last, p.now); ok {
		child := scheduledBackup(b, due)
		if err := controllerutil.SetControllerReference(b, child, r.Scheme); err != nil {
			return fmt.Errorf("owner reference on %s: %w", child.Name, err)
		}
		switch err := r.Create(ctx, child); {
		case apierrors.IsAlreadyExists(err): // made by a pass whose status update was lost
		case err != nil:
			return fmt.Errorf("create backup %s: %w", child.Name, err)
		default:
			r.event(b, corev1.EventTypeNormal, reasonBackupScheduled, "Schedule", "Created YzmaBackup %s for %s",
				child.Name, due.UTC().Format(time.RFC3339))
		}
		b.Status.LastScheduleTime = &metav1.Time{Time: due}
	}
	next := sched.Next(p.now.UTC())
	b.Status.NextScheduleTime = &metav1.Time{Time: next}
	setBackupCondition(b, yzmav1.ConditionScheduled, true, reasonScheduled, "next backup at %s", next.Format(time.RFC3339))
	p.wantRequeue(next.Sub(p.now))
	return nil
}
