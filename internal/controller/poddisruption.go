package controller

import (
	"context"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

// podDisruptionBudget lets voluntary disruptions (drains) take one node at
// a time, so the cluster keeps serving and every other node keeps its data.
func podDisruptionBudget(c *yzmav1.YzmaCluster) *policyv1.PodDisruptionBudget {
	one := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: childMeta(c, pdbName(c), "nodes"),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &one,
			Selector:       &metav1.LabelSelector{MatchLabels: selectorLabels(c)},
		},
	}
}

// reconcilePodDisruptionBudget applies the PodDisruptionBudget.
func (r *Reconciler) reconcilePodDisruptionBudget(ctx context.Context, p *pass) error {
	return r.apply(ctx, p.c, podDisruptionBudget(p.c))
}
