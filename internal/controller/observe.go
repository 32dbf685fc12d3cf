package controller

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// observe reads the StatefulSet and its pods.
func (r *Reconciler) observe(ctx context.Context, p *pass) error {
	var sts appsv1.StatefulSet
	switch err := r.Get(ctx, types.NamespacedName{Namespace: p.c.Namespace, Name: stsName(p.c)}, &sts); {
	case apierrors.IsNotFound(err):
		p.sts = nil
	case err != nil:
		return fmt.Errorf("read statefulset: %w", err)
	default:
		p.sts = &sts
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(p.c.Namespace), client.MatchingLabels(selectorLabels(p.c))); err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	p.pods = map[string]*corev1.Pod{}
	for i := range pods.Items {
		if _, ok := podOrdinal(p.c, pods.Items[i].Name); ok {
			p.pods[pods.Items[i].Name] = &pods.Items[i]
		}
	}
	return nil
}

// podRunning reports whether pod exists, is not being deleted and runs.
func podRunning(pod *corev1.Pod) bool {
	return pod != nil && pod.DeletionTimestamp == nil && pod.Status.Phase == corev1.PodRunning
}

// podReady reports whether pod runs and is ready.
func podReady(pod *corev1.Pod) bool {
	if !podRunning(pod) {
		return false
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readyPods lists the ready pods with an ordinal below limit, lowest first.
func readyPods(p *pass, limit int32) []string {
	var names []string
	for o := int32(0); o < limit; o++ {
		if name := podName(p.c, o); podReady(p.pods[name]) {
			names = append(names, name)
		}
	}
	return names
}
