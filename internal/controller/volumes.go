package controller

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// claimsToGrow returns the indexes of the claims of c's pods that request
// less than the spec's size, and that size. A StatefulSet's claim templates
// are immutable, so a larger spec.storage.size reaches existing nodes only
// this way (their storage class must allow expansion).
func claimsToGrow(c *yzmav1.YzmaCluster, claims []corev1.PersistentVolumeClaim) ([]int, resource.Quantity) {
	want := volumeClaim(c).Spec.Resources.Requests[corev1.ResourceStorage]
	var out []int
	for i, pvc := range claims {
		pod, ok := strings.CutPrefix(pvc.Name, dataVolume+"-")
		if _, isPod := podOrdinal(c, pod); !ok || !isPod || pvc.DeletionTimestamp != nil {
			continue
		}
		if have := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; have.Cmp(want) < 0 {
			out = append(out, i)
		}
	}
	return out, want
}

// reconcileVolumes asks for the spec's size on every existing claim that is
// smaller. A refusal (the storage class cannot expand) is reported as a
// Warning event and does not fail the pass: the nodes keep running.
func (r *Reconciler) reconcileVolumes(ctx context.Context, p *pass) error {
	c := p.c
	var list corev1.PersistentVolumeClaimList
	if err := r.List(ctx, &list, client.InNamespace(c.Namespace), client.MatchingLabels(selectorLabels(c))); err != nil {
		return fmt.Errorf("list claims: %w", err)
	}
	grow, size := claimsToGrow(c, list.Items)
	for _, i := range grow {
		pvc := &list.Items[i]
		base := pvc.DeepCopy()
		pvc.Spec.Resources.Requests[corev1.ResourceStorage] = size
		if err := r.Patch(ctx, pvc, client.MergeFrom(base)); err != nil {
			r.event(c, corev1.EventTypeWarning, reasonVolumeExpandErr, "ExpandVolume", "claim %s cannot grow to %s: %v", pvc.Name, size.String(), err)
			continue
		}
		r.event(c, corev1.EventTypeNormal, reasonVolumeExpanding, "ExpandVolume", "claim %s asked to grow to %s", pvc.Name, size.String())
	}
	return nil
}
