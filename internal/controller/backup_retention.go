package controller

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// pruneCandidates are the backups of a schedule to delete: the Succeeded
// ones but the keep newest, as with their files (each backup Job prunes
// the files to as many), and the Failed ones but the newest, whose
// message says what last went wrong. One that has not finished is never
// deleted, and failures never push a success out. Names end with the due
// time, so they sort by it.
func pruneCandidates(children []yzmav1.YzmaBackup, keep int) []yzmav1.YzmaBackup {
	var succeeded, failed []yzmav1.YzmaBackup
	for _, b := range children {
		switch b.Status.Phase {
		case yzmav1.BackupSucceeded:
			succeeded = append(succeeded, b)
		case yzmav1.BackupFailed:
			failed = append(failed, b)
		}
	}
	byName := func(a, b yzmav1.YzmaBackup) int { return cmp.Compare(a.Name, b.Name) }
	slices.SortFunc(succeeded, byName)
	slices.SortFunc(failed, byName)
	return append(succeeded[:max(0, len(succeeded)-keep)], failed[:max(0, len(failed)-1)]...)
}

// pruneScheduled deletes the schedule's Succeeded backups beyond
// spec.keep and its Failed ones but the latest (see pruneCandidates);
// their Jobs go with them, their files stay (the backup Job prunes those,
// keeping as many).
func (r *BackupReconciler) pruneScheduled(ctx context.Context, p *backupPass) error {
	b := p.b
	var list yzmav1.YzmaBackupList
	if err := r.List(ctx, &list, client.InNamespace(b.Namespace), client.MatchingLabels{yzmav1.LabelSchedule: b.Name}); err != nil {
		return fmt.Errorf("list the backups of schedule %s: %w", b.Name, err)
	}
	children := slices.DeleteFunc(list.Items, func(c yzmav1.YzmaBackup) bool { return !metav1.IsControlledBy(&c, b) })
	keep := defaultKeep
	if b.Spec.Keep != nil {
		keep = int(*b.Spec.Keep)
	}
	for _, old := range pruneCandidates(children, keep) {
		if err := r.Delete(ctx, &old, client.Preconditions{UID: &old.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete backup %s: %w", old.Name, err)
		}
		r.event(b, corev1.EventTypeNormal, reasonBackupPruned, "Prune", "Deleted YzmaBackup %s (%s): more than %d backups", old.Name, old.Status.Phase, keep)
	}
	return nil
}
