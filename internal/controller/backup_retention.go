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

// pruneCandidates are the backups of a schedule to delete so that at most
// keep remain: finished ones only (a Pending or Running one is never
// deleted), the Succeeded ones first, oldest first (their names end with
// their due time).
func pruneCandidates(children []yzmav1.YzmaBackup, keep int) []yzmav1.YzmaBackup {
	extra := len(children) - keep
	if extra <= 0 {
		return nil
	}
	var finished []yzmav1.YzmaBackup
	for _, b := range children {
		if backupFinished(&b) {
			finished = append(finished, b)
		}
	}
	slices.SortFunc(finished, func(a, b yzmav1.YzmaBackup) int {
		aOK, bOK := a.Status.Phase == yzmav1.BackupSucceeded, b.Status.Phase == yzmav1.BackupSucceeded
		if aOK != bOK {
			if aOK {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return finished[:min(extra, len(finished))]
}

// pruneScheduled deletes the schedule's backups beyond spec.keep (see
// pruneCandidates); their Jobs go with them, their files stay (the
// backup Job prunes those, keeping as many).
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
