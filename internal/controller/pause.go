package controller

import (
	"context"
	"fmt"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// paused reports whether the yzma.io/pause annotation stops reconciling c.
func paused(c *yzmav1.YzmaCluster) bool {
	return c.Annotations[yzmav1.AnnotationPause] == "true"
}

// recordPaused records in the status that c is paused, and changes
// nothing else: no child is applied, no scale-down step moves. Removing
// the annotation is an update of c, which starts the next pass.
func (r *Reconciler) recordPaused(ctx context.Context, c *yzmav1.YzmaCluster) error {
	setCondition(c, yzmav1.ConditionPaused, true, reasonPaused,
		"reconciling is paused by the %s annotation; remove it to resume", yzmav1.AnnotationPause)
	c.Status.Phase = yzmav1.ConditionPaused
	if err := r.Status().Update(ctx, c); err != nil {
		return fmt.Errorf("update status: %w", err)
	}
	return nil
}
